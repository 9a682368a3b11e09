"""Who a call is made as: a tenant, a key (or a trusted service inside the process), a role, and
the user and groups whose ACL it carries. Every layer that decides access reads this one type."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

ROOT_TENANT = "root"
SERVICE_PREFIX = "service:"


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    AUDITOR = "auditor"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    key_id: str
    role: Role
    user_id: str | None = None
    groups: tuple[str, ...] = ()

    @classmethod
    def service(cls, tenant_id: str, name: str, *, role: Role = Role.ADMIN) -> Principal:
        """A principal for work the platform does itself inside the process (a CLI ingest, a job
        worker): no API key, so its `key_id` names the service, and the audit shows who acted."""
        return cls(tenant_id=tenant_id, key_id=f"{SERVICE_PREFIX}{name}", role=role)

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.ADMIN and self.tenant_id == ROOT_TENANT

    def principals(self) -> list[str]:
        """The ACL names this caller holds: `user:<id>`, `group:<g>` and the tenant-wide `*`."""
        out = ["*"]
        if self.user_id:
            out.append(f"user:{self.user_id}")
        out.extend(f"group:{g}" for g in self.groups)
        return out


__all__ = ["ROOT_TENANT", "SERVICE_PREFIX", "Principal", "Role"]
