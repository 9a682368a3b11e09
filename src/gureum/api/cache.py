"""Purging the response cache: `DELETE /v1/cache`, by tenant, requested model and collection.

A tenant admin purges their own tenant; a platform (root) admin any tenant or all of them. Each
purge — and each refused one — is an audit event."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gureum.api.access import audited, require, tenant_scope
from gureum.api.common import platform
from gureum.errors import InvalidRequest, PermissionDenied
from gureum.governance.principal import Role

router = APIRouter(prefix="/v1")

TenantId = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
Name = Annotated[str | None, Query(min_length=1, max_length=256)]


@router.delete("/cache")
async def purge_cache(request: Request, tenant_id: TenantId = None, model: Name = None,
                      collection: Name = None) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    try:
        tenant = tenant_scope(principal, tenant_id)
    except PermissionDenied:
        await audited(request, principal, "cache.purge", f"tenant:{tenant_id}", {"reason": "another tenant"},
                      decision="deny", status=403)
        raise
    if collection is not None and tenant is None:
        raise InvalidRequest("Purging a collection needs the tenant it belongs to: add tenant_id.", param="tenant_id")
    deleted = await platform(request).cache.purge(tenant, model, collection)
    scope = {"tenant_id": tenant, "model": model, "collection": collection}
    await audited(request, principal, "cache.purge", f"tenant:{tenant or '*'}", {**scope, "deleted": deleted})
    return {"object": "cache.purge", **scope, "deleted": deleted}
