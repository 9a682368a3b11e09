"""Audit for auditors: search events, export, and verify the chain. Nobody can change them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Path, Query, Request

from gureum.api.access import audited, require, tenant_scope
from gureum.api.common import Cursor, RowId, platform
from gureum.errors import PermissionDenied
from gureum.governance import audit, audit_documents
from gureum.governance.principal import ROOT_TENANT, Role

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
    after: Cursor = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """A platform (root tenant) auditor or admin sees the global chain; anyone else their tenant's
    events, numbered by the tenant's own sequence."""
    principal = await require(request, Role.AUDITOR, Role.ADMIN)
    q = audit.AuditQuery(
        tenant_id=tenant_scope(principal, tenant_id), actor=actor, action=action, resource=resource, since=since,
        until=until, limit=limit, after_seq=after, tenant_view=principal.tenant_id != ROOT_TENANT,
    )
    rows = await audit.search(platform(request).store.engine, q)
    await audited(request, principal, "audit.read", "audit", {"filters": {k: v for k, v in vars(q).items() if v}})
    return {"object": "list", "data": rows, "has_more": len(rows) == limit}


@router.get("/documents/{document_id}")
async def document_retrievals(
    request: Request,
    document_id: RowId,
    tenant_id: str | None = None,
    after: Cursor = None,
    limit: int = Query(default=100, ge=1, le=1000),
) -> dict[str, Any]:
    """Who has retrieved this document, and when: the retrieval and answer events that returned
    any of its chunks, oldest first; `after` pages by the `seq` of the last event seen."""
    principal = await require(request, Role.AUDITOR, Role.ADMIN)
    q = audit_documents.DocumentQuery(document_id=document_id, tenant_id=tenant_scope(principal, tenant_id),
                                      tenant_view=principal.tenant_id != ROOT_TENANT, after=after, limit=limit)
    rows = await audit_documents.retrievals_of(platform(request).store.engine, q)
    await audited(request, principal, "audit.read", f"document:{document_id}", {"after": after, "limit": limit})
    return {"object": "list", "document_id": document_id, "data": rows, "has_more": len(rows) == limit}


@router.get("/requests/{request_id}/documents")
async def request_documents(request: Request, request_id: str = Path(pattern=r"^[A-Za-z0-9._:-]{1,200}$")) -> dict[str, Any]:
    """Which documents and chunks a request retrieved and which it cited (for a generated answer:
    what the model was given), per audit event of the request."""
    principal = await require(request, Role.AUDITOR, Role.ADMIN)
    tenant = tenant_scope(principal, None)
    rows = await audit_documents.documents_of(platform(request).store.engine, request_id, tenant,
                                              principal.tenant_id != ROOT_TENANT)
    await audited(request, principal, "audit.read", f"request:{request_id}", {})
    return {"object": "list", "request_id": request_id, "data": rows}


@router.get("/verify")
async def verify(request: Request) -> dict[str, Any]:
    principal = await require(request, Role.AUDITOR, Role.ADMIN)
    if principal.tenant_id != "root":
        raise PermissionDenied("Verifying the whole chain needs a platform (root tenant) auditor or admin key.")
    result = await audit.verify(platform(request).store.engine)
    return {"ok": result.ok, "checked": result.checked, "bad_seq": result.bad_seq, "reason": result.reason,
            "head": result.head}
