"""Console test helpers: a logged-in HTTP client, and tenants with traffic in the ledger."""

from __future__ import annotations

import re

import httpx

from tests.support.keys import make_key


def login(base: str, key: str, **headers: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, headers=headers)
    r = client.post("/console/login", data={"api_key": key}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def csrf(page: str) -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert m, "no CSRF token on the page"
    return m.group(1)


def chat(base: str, key: str, n: int) -> None:
    for _ in range(n):
        r = httpx.post(f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {key}"}, timeout=30,
                       json={"model": "gpt-test", "messages": [{"role": "user", "content": "hello there"}]})
        assert r.status_code == 200, r.text


def tenants_with_traffic(base: str) -> dict[str, str]:
    """Two tenants with different amounts of traffic, and the keys the tests log in with."""
    keys = {
        "acme_member": make_key(base, "acme", "member", user="kim"),
        "beta_member": make_key(base, "beta", "member", user="lee"),
    }
    # make_key creates the tenant, so further keys of a tenant go through the admin API directly.
    keys["acme_auditor"] = _key(base, "acme", "auditor", "park")
    keys["root_auditor"] = _key(base, "root", "auditor", "choi")
    chat(base, keys["acme_member"], 3)
    chat(base, keys["beta_member"], 5)
    return keys


def _key(base: str, tenant: str, role: str, user: str) -> str:
    from tests.conftest import ADMIN_KEY

    r = httpx.post(f"{base}/v1/admin/keys", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30,
                   json={"tenant_id": tenant, "role": role, "user_id": user})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])
