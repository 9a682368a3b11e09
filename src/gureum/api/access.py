"""Who may use the platform routes: authenticate, check the role, and audit the action."""

from __future__ import annotations

from fastapi import Request

from gureum.api.common import bearer, platform, request_id
from gureum.errors import PermissionDenied
from gureum.flow.types import Principal, Role
from gureum.governance.audit import AuditEvent


async def require(request: Request, *roles: Role) -> Principal:
    p = platform(request)
    principal = await p.keys.authenticate(bearer(request))
    if principal.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        await p.recorder.record(
            audit=AuditEvent(
                action=f"admin.{request.method.lower()}", decision="deny", tenant_id=principal.tenant_id,
                user_id=principal.user_id, key_id=principal.key_id, request_id=request_id(request),
                resource=request.url.path, status=403, detail={"reason": f"role {principal.role.value}"},
            )
        )
        raise PermissionDenied(f"This route needs a key with role {allowed}.")
    return principal


def tenant_scope(principal: Principal, requested: str | None) -> str | None:
    """Platform admins/auditors (root tenant) see every tenant or the one they ask for; anyone
    else sees only their own tenant, whatever they ask for."""
    if principal.tenant_id == "root":
        return requested
    if requested is not None and requested != principal.tenant_id:
        raise PermissionDenied("Keys may only act on their own tenant.")
    return principal.tenant_id


async def audited(request: Request, principal: Principal, action: str, resource: str, detail: dict[str, object]) -> None:
    await platform(request).recorder.record(
        audit=AuditEvent(
            action=action, tenant_id=principal.tenant_id, user_id=principal.user_id, key_id=principal.key_id,
            request_id=request_id(request), resource=resource, status=200, detail=detail,
        )
    )


__all__ = ["require", "tenant_scope", "audited"]
