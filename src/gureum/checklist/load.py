"""Reading what to check: a gureum.yaml (settings plus the position of every key), a running
platform's effective configuration (`GET /v1/admin/config`), or both — the file's declarations
with the running platform's tenants, keys and collections."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from gureum.checklist.declared import CollectionView, DeclaredPlatform, KeyView
from gureum.config import ConfigError, Settings, explain, load_settings, read_source


class _AsServed(Settings):
    """The running platform's settings exactly as it reports them: this process's environment
    must not overlay them."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def from_file(path: Path) -> DeclaredPlatform:
    """Raises ConfigError (exit 2) when the file is missing, unreadable or invalid."""
    if not path.exists():
        raise ConfigError(f"{path}: no such file (pass the gureum.yaml to check)")
    source = read_source(path)
    return DeclaredPlatform(load_settings(path), str(path), source)


def fetch(url: str, key: str, timeout: float = 30.0) -> dict[str, Any]:
    """The running platform's configuration; ConfigError when it cannot be had."""
    endpoint = url.rstrip("/").removesuffix("/v1") + "/v1/admin/config"
    try:
        r = httpx.get(endpoint, headers={"authorization": f"Bearer {key}"}, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ConfigError(f"{endpoint}: cannot reach the platform: {exc}") from exc
    if r.status_code != 200:
        try:
            message = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = r.text[:200]
        raise ConfigError(f"{endpoint}: {r.status_code} {message}")
    data: dict[str, Any] = r.json()
    return data


def _collections(rows: list[dict[str, Any]]) -> list[CollectionView]:
    return [
        CollectionView(c["tenant_id"], c["name"], c.get("embedder"), c.get("residency"),
                       tuple(c.get("default_acl") or ()), c.get("pii_policy") or "mask", c.get("answer_model"),
                       c.get("reranker"), None)
        for c in rows
    ]


def _keys(rows: list[dict[str, Any]]) -> list[KeyView]:
    def at(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return [KeyView(k["id"], k["tenant_id"], str(k["role"]), datetime.fromisoformat(k["created_at"]),
                    at(k.get("expires_at")), bool(k.get("revoked_at"))) for k in rows]


def with_live(url: str, key: str, file: DeclaredPlatform | None = None) -> DeclaredPlatform:
    """The file's declarations (or, without a file, the platform's own settings) with the running
    platform's tenants, keys and the collections the file does not declare."""
    data = fetch(url, key)
    if file is None:
        try:
            settings = _AsServed(**data["settings"])
        except ValidationError as exc:
            raise ConfigError(explain(exc, None, Path(url))) from exc
        base = DeclaredPlatform(settings, url)
    else:
        base = file
    declared = {(c.tenant, c.name) for c in base.collections}
    live = [c for c in _collections(data.get("collections", [])) if (c.tenant, c.name) not in declared]
    return DeclaredPlatform(
        base.settings, base.origin if file else url, base.source, [*base.collections, *live],
        _keys(data.get("keys", [])), [t["id"] for t in data.get("tenants", [])], url,
    )


__all__ = ["fetch", "from_file", "with_live"]
