"""The running platform's effective configuration, for `gureum check --live`: the settings this
process runs with (file + environment + defaults) with every secret replaced, its tenants, its
keys (metadata only: never a hash) and every tenant's collections. Platform admins only; audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Request

from gureum.api.access import audited, require
from gureum.api.common import platform
from gureum.config import Settings
from gureum.errors import PermissionDenied
from gureum.governance.principal import Role
from gureum.knowledge import collections

router = APIRouter(prefix="/v1/admin")
HIDDEN = "***"
_PROVIDER_SECRETS = ("api_key",)


def _url_without_password(url: str | None) -> str | None:
    if not url:
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:{HIDDEN}@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def effective(settings: Settings) -> dict[str, Any]:
    """The settings as JSON with secrets replaced: keys, passwords in URLs, provider headers."""
    data = settings.model_dump(mode="json", exclude={"config_path"})
    if data.get("admin_key"):
        data["admin_key"] = HIDDEN
    data["database_url"] = _url_without_password(data.get("database_url"))
    data["redis_url"] = _url_without_password(data.get("redis_url"))
    for p in data.get("providers", {}).values():
        for key in _PROVIDER_SECRETS:
            if p.get(key):
                p[key] = HIDDEN
        p["headers"] = {k: HIDDEN for k in p.get("headers") or {}}
    return data


@router.get("/config")
async def effective_config(request: Request) -> dict[str, Any]:
    principal = await require(request, Role.ADMIN)
    if not principal.is_platform_admin:
        raise PermissionDenied("Reading the platform's configuration needs a platform (root tenant) admin key.")
    p = platform(request)
    tenants = await p.keys.tenants()
    cols = [c for t in tenants for c in await collections.list_all(p.store.engine, t["id"])]
    keys = [{k: v for k, v in info.public().items() if k != "prefix"} for info in await p.keys.list()]
    await audited(request, principal, "admin.config.read", "config", {"collections": len(cols), "keys": len(keys)})
    return {"object": "gureum.config", "settings": effective(p.settings), "tenants": tenants, "keys": keys,
            "collections": cols}
