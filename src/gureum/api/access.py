"""Who may use the platform routes: authenticate, check the role, and audit the action."""

from __future__ import annotations

from fastapi import Request

from gureum.api.common import bearer, platform, request_id
from gureum.errors import PermissionDenied
from gureum.governance.audit import AuditEvent
from gureum.governance.principal import Principal, Role


async def require(request: Request, *roles: Role) -> Principal:
    principal = await platform(request).keys.authenticate(bearer(request))
    await authorize(request, principal, *roles)
    return principal


async def authorize(request: Request, principal: Principal, *roles: Role) -> None:
    """Refuse (and audit the refusal) unless the principal holds one of the roles; the console
    checks its sessions' principals with this same rule."""
    if principal.role not in roles:
        allowed = " or ".join(r.value for r in roles)
        await audited(request, principal, f"admin.{request.method.lower()}", request.url.path,
                      {"reason": f"role {principal.role.value}"}, decision="deny", status=403)
        raise PermissionDenied(f"This route needs a key with role {allowed}.")


def tenant_scope(principal: Principal, requested: str | None) -> str | None:
    """Platform admins/auditors (root tenant) see every tenant or the one they ask for; anyone
    else sees only their own tenant, whatever they ask for."""
    if principal.tenant_id == "root":
        return requested
    if requested is not None and requested != principal.tenant_id:
        raise PermissionDenied("Keys may only act on their own tenant.")
    return principal.tenant_id


async def audited(request: Request, principal: Principal, action: str, resource: str, detail: dict[str, object],
                  *, decision: str = "allow", status: int = 200) -> None:
    """One audit event for a platform route's action by `principal` — a refusal too
    (`decision="deny"` with its status)."""
    await platform(request).recorder.record(
        audit=AuditEvent(
            action=action, decision=decision, tenant_id=principal.tenant_id, user_id=principal.user_id,
            key_id=principal.key_id, request_id=request_id(request), resource=resource, status=status, detail=detail,
        )
    )


__all__ = ["authorize", "require", "tenant_scope", "audited"]
