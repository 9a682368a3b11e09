"""API keys for tests through the admin API: the tenant is created first (creating tenants is
explicit), then the key."""

from __future__ import annotations

import httpx

from tests.conftest import ADMIN_KEY


def create_key(base: str, tenant: str, role: str = "member", user: str | None = None,
               groups: list[str] | None = None, admin_key: str = ADMIN_KEY) -> tuple[str, str]:
    """(the key, its id)."""
    auth = {"authorization": f"Bearer {admin_key}"}
    r = httpx.post(f"{base}/v1/admin/tenants", headers=auth, json={"id": tenant}, timeout=60)
    assert r.status_code == 201, r.text
    r = httpx.post(f"{base}/v1/admin/keys", headers=auth, timeout=60,
                   json={"tenant_id": tenant, "role": role, "user_id": user, "groups": groups or []})
    assert r.status_code == 201, r.text
    return str(r.json()["key"]), str(r.json()["id"])


def make_key(base: str, tenant: str, role: str = "member", user: str | None = None,
             groups: list[str] | None = None, admin_key: str = ADMIN_KEY) -> str:
    return create_key(base, tenant, role, user, groups, admin_key)[0]
