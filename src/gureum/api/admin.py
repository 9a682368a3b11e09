"""Platform administration: API keys and tenants."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from gureum.api.access import audited, require, tenant_scope
from gureum.api.common import platform, read_json, validate
from gureum.errors import PermissionDenied
from gureum.governance.principal import Role

router = APIRouter(prefix="/v1/admin")


class KeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tenant_id: str | None = Field(default=None, description="Defaults to the caller's tenant.")
    user_id: str | None = None
    role: Role = Role.MEMBER
    name: str = ""
    groups: list[str] = Field(default_factory=list)
    expires_at: datetime | None = None


@router.post("/keys", status_code=201)
async def create_key(request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    req = validate(KeyCreate, await read_json(request, 64 * 1024))
    tenant = tenant_scope(principal, req.tenant_id) or principal.tenant_id
    key, info = await platform(request).keys.create(
        tenant_id=tenant, role=req.role, user_id=req.user_id, name=req.name, groups=req.groups,
        expires_at=req.expires_at,
    )
    await audited(request, principal, "admin.key.create", f"key:{info.id}", {"tenant": tenant, "role": req.role.value})
    return {**info.public(), "key": key}


@router.get("/keys")
async def list_keys(request: Request, tenant_id: str | None = None) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    keys = await platform(request).keys.list(tenant_scope(principal, tenant_id))
    return {"object": "list", "data": [k.public() for k in keys]}


@router.delete("/keys/{key_id}")
async def revoke_key(key_id: str, request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    info = await platform(request).keys.revoke(key_id, tenant_scope(principal, None))
    await audited(request, principal, "admin.key.revoke", f"key:{key_id}", {"tenant": info.tenant_id})
    return info.public()


class TenantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str | None = None


@router.post("/tenants", status_code=201)
async def create_tenant(request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    if not principal.is_platform_admin:
        raise PermissionDenied("Creating tenants needs a platform (root tenant) admin key.")
    req = validate(TenantCreate, await read_json(request, 16 * 1024))
    keys = platform(request).keys
    await keys.ensure_tenant(req.id, req.name)
    await audited(request, principal, "admin.tenant.create", f"tenant:{req.id}", {})
    return (await keys.tenants(req.id))[0]


@router.get("/tenants")
async def list_tenants(request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    return {"object": "list", "data": await platform(request).keys.tenants(tenant_scope(principal, None))}
