"""API keys: created hashed and scoped, listed without secrets, revoked and expired for real."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx
import openai
import psycopg
import pytest

from tests.conftest import ADMIN_KEY


@pytest.fixture(scope="module")
def admin(gateway: str) -> httpx.Client:
    client = httpx.Client(base_url=gateway, headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=10)
    for tenant in ("acme", "beta"):
        assert client.post("/v1/admin/tenants", json={"id": tenant}).status_code == 201
    return client


def test_a_key_for_a_tenant_that_does_not_exist_is_a_404(admin: httpx.Client) -> None:
    r = admin.post("/v1/admin/keys", json={"tenant_id": "acmee"})  # a typo
    assert r.status_code == 404 and r.json()["error"]["param"] == "tenant_id", r.text
    assert "acmee" not in {t["id"] for t in admin.get("/v1/admin/tenants").json()["data"]}


def _chat(gateway: str, key: str) -> httpx.Response:
    return httpx.post(f"{gateway}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}, timeout=10)


def test_create_use_list_revoke(admin: httpx.Client, gateway: str, database_url: str) -> None:
    r = admin.post("/v1/admin/keys", json={"tenant_id": "acme", "user_id": "kim", "groups": ["hr"]})
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    assert key.startswith("gk-") and created["tenant_id"] == "acme" and created["role"] == "member"
    with psycopg.connect(database_url) as conn:
        stored = conn.execute("SELECT hash FROM api_keys WHERE id = %s", (created["id"],)).fetchone()[0]
        assert key not in stored and len(stored) == 64
    assert _chat(gateway, key).status_code == 200
    listed = admin.get("/v1/admin/keys", params={"tenant_id": "acme"}).json()["data"]
    assert [k["id"] for k in listed] == [created["id"]]
    assert all("key" not in k for k in listed)
    assert admin.delete(f"/v1/admin/keys/{created['id']}").status_code == 200
    r = _chat(gateway, key)
    assert r.status_code == 401


def test_member_cannot_administer(admin: httpx.Client, gateway: str) -> None:
    key = admin.post("/v1/admin/keys", json={"tenant_id": "acme"}).json()["key"]
    r = httpx.post(f"{gateway}/v1/admin/keys", headers={"authorization": f"Bearer {key}"}, json={})
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"


def test_tenant_admin_is_confined_to_its_tenant(admin: httpx.Client, gateway: str) -> None:
    tadmin = admin.post("/v1/admin/keys", json={"tenant_id": "beta", "role": "admin"}).json()["key"]
    h = {"authorization": f"Bearer {tadmin}"}
    assert httpx.post(f"{gateway}/v1/admin/keys", headers=h, json={"tenant_id": "acme"}).status_code == 403
    own = httpx.get(f"{gateway}/v1/admin/keys", headers=h).json()["data"]
    assert own and {k["tenant_id"] for k in own} == {"beta"}


def test_expiry(admin: httpx.Client, gateway: str) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    assert admin.post("/v1/admin/keys", json={"tenant_id": "acme", "expires_at": past}).status_code == 400
    soon = (datetime.now(UTC) + timedelta(seconds=1.5)).isoformat()
    key = admin.post("/v1/admin/keys", json={"tenant_id": "acme", "expires_at": soon}).json()["key"]
    assert _chat(gateway, key).status_code == 200
    time.sleep(2)
    r = _chat(gateway, key)
    assert r.status_code == 401 and r.json()["error"]["code"] == "expired_api_key"


def test_auditor_cannot_call_models(admin: httpx.Client, gateway: str) -> None:
    key = admin.post("/v1/admin/keys", json={"tenant_id": "acme", "role": "auditor"}).json()["key"]
    client = openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
    r = httpx.get(f"{gateway}/v1/audit/events", headers={"authorization": f"Bearer {key}"})
    assert r.status_code == 200
    assert {e["tenant_id"] for e in r.json()["data"]} <= {"acme"}


def test_tenants(admin: httpx.Client, gateway: str) -> None:
    r = admin.post("/v1/admin/tenants", json={"id": "gamma", "name": "감마 주식회사"})
    assert r.status_code == 201 and r.json()["name"] == "감마 주식회사"
    assert "gamma" in {t["id"] for t in admin.get("/v1/admin/tenants").json()["data"]}
    assert admin.post("/v1/admin/tenants", json={"id": "bad id!"}).status_code == 422
    tadmin = admin.post("/v1/admin/keys", json={"tenant_id": "gamma", "role": "admin"}).json()["key"]
    h = {"authorization": f"Bearer {tadmin}"}
    assert httpx.post(f"{gateway}/v1/admin/tenants", headers=h, json={"id": "delta"}).status_code == 403
    assert [t["id"] for t in httpx.get(f"{gateway}/v1/admin/tenants", headers=h).json()["data"]] == ["gamma"]
