"""Audit for auditors: search events, export, and verify the chain. Nobody can change them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request

from gureum.api.access import audited, require, tenant_scope
from gureum.api.common import platform
from gureum.errors import PermissionDenied
from gureum.flow.types import Role
from gureum.governance import audit

router = APIRouter(prefix="/v1/audit")


@router.get("/events")
async def events(
    request: Request,
    tenant_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    resource: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after: int | None = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    principal = await require(request, Role.AUDITOR, Role.ADMIN)
    q = audit.AuditQuery(
        tenant_id=tenant_scope(principal, tenant_id), actor=actor, action=action, resource=resource, since=since,
        until=until, limit=limit, after_seq=after,
    )
    rows = await audit.search(platform(request).store.engine, q)
    await audited(request, principal, "audit.read", "audit", {"filters": {k: v for k, v in vars(q).items() if v}})
    return {"object": "list", "data": rows, "has_more": len(rows) == limit}


@router.get("/verify")
async def verify(request: Request) -> dict[str, Any]:
    principal = await require(request, Role.AUDITOR, Role.ADMIN)
    if principal.tenant_id != "root":
        raise PermissionDenied("Verifying the whole chain needs a platform (root tenant) auditor or admin key.")
    result = await audit.verify(platform(request).store.engine)
    return {"ok": result.ok, "checked": result.checked, "bad_seq": result.bad_seq, "reason": result.reason,
            "head": result.head}
