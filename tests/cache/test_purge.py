"""`DELETE /v1/cache` through a running gureum, with the exact entries in PostgreSQL and in Redis:
a purge removes what it names (tenant, requested model) and nothing else, another tenant's
entries are out of a tenant admin's reach, and every purge — refused ones too — is audited.

Each case first proves the entry is stored (a repeat is a hit), so a miss after the purge means
"purged", not "never stored"."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import ADMIN_KEY, gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import make_key
from tests.support.servers import serve_app


@pytest.fixture(scope="module", params=["postgres", "redis"])
def gw(request: pytest.FixtureRequest, database_url: str, redis_url: str, upstream: tuple[FakeOpenAI, str],
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    deployments = [
        {"name": name, "provider": "fake", "model": f"{name}-model", "price": {"input": 1.0, "output": 2.0},
         "region": "us", "tier": 3}
        for name in ("gpt-test", "gpt-other")
    ]
    shared = {"redis_url": redis_url} if request.param == "redis" else {}
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("purge"),
                                deployments=deployments, cache={"semantic": False}, **shared)
    run = uuid.uuid4().hex[:6]
    with serve_app(create_app(settings)) as base:
        a, b = f"pa{run}", f"pb{run}"
        yield {
            "base": base, "mode": request.param, "a": a, "b": b,
            "a-admin": make_key(base, a, "admin", user="boss"), "a-member": make_key(base, a),
            "b-member": make_key(base, b),
        }


def ask(env: dict[str, Any], key: str, model: str, text: str) -> str:
    r = httpx.post(f"{env['base']}/v1/chat/completions", timeout=60, headers={"authorization": f"Bearer {env[key]}"},
                   json={"model": model, "temperature": 0, "messages": [{"role": "user", "content": text}]})
    assert r.status_code == 200, r.text
    return r.headers["x-gureum-cache"]


def stored(env: dict[str, Any], key: str, model: str, text: str) -> None:
    assert ask(env, key, model, text) == "miss"
    assert ask(env, key, model, text) == "exact"


def purge(env: dict[str, Any], key: str | None, rid: str, **params: str) -> httpx.Response:
    secret = env[key] if key else ADMIN_KEY
    return httpx.delete(f"{env['base']}/v1/cache", params=params, timeout=60,
                        headers={"authorization": f"Bearer {secret}", "x-request-id": rid})


def audit(database_url: str, rid: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT action, decision, status, detail FROM audit_events WHERE request_id = %s",
                            (rid,)).fetchall()


def test_a_purge_takes_what_it_names_and_nothing_else(gw: dict[str, Any], database_url: str) -> None:
    q = f"purge me {uuid.uuid4().hex[:6]}"
    for key in ("a-member", "b-member"):
        for model in ("gpt-test", "gpt-other"):
            stored(gw, key, model, q)
    rid = "req_purge_model" + uuid.uuid4().hex
    r = purge(gw, "a-admin", rid, model="gpt-test")
    assert r.status_code == 200, r.text
    assert r.json() == {"object": "cache.purge", "tenant_id": gw["a"], "model": "gpt-test", "collection": None,
                        "deleted": 1}
    assert ask(gw, "a-member", "gpt-test", q) == "miss"
    assert ask(gw, "a-member", "gpt-other", q) == "exact"  # another model of the same tenant stays
    assert ask(gw, "b-member", "gpt-test", q) == "exact"  # the same model of another tenant stays
    [(action, decision, status, detail)] = audit(database_url, rid)
    assert (action, decision, status) == ("cache.purge", "allow", 200) and detail["deleted"] == 1

    r = purge(gw, "a-admin", "req_purge_all" + uuid.uuid4().hex)
    assert r.status_code == 200 and r.json()["deleted"] == 2  # gpt-test stored again above, and gpt-other
    assert ask(gw, "a-member", "gpt-other", q) == "miss"
    assert ask(gw, "b-member", "gpt-other", q) == "exact"


def test_a_tenant_admin_cannot_purge_another_tenant(gw: dict[str, Any], database_url: str) -> None:
    q = f"not yours {uuid.uuid4().hex[:6]}"
    stored(gw, "b-member", "gpt-test", q)
    rid = "req_purge_other" + uuid.uuid4().hex
    r = purge(gw, "a-admin", rid, tenant_id=gw["b"])
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error", r.text
    assert [(a, d, s) for a, d, s, _ in audit(database_url, rid)] == [("cache.purge", "deny", 403)]
    r = purge(gw, "a-member", "req_purge_member" + uuid.uuid4().hex)
    assert r.status_code == 403, r.text
    assert ask(gw, "b-member", "gpt-test", q) == "exact"
    # The platform admin may purge any one tenant.
    r = purge(gw, None, "req_purge_root" + uuid.uuid4().hex, tenant_id=gw["b"])
    assert r.status_code == 200 and r.json()["deleted"] >= 1, r.text
    assert ask(gw, "b-member", "gpt-test", q) == "miss"


def test_bad_purge_parameters_are_refused(gw: dict[str, Any]) -> None:
    r = purge(gw, "a-admin", "req_purge_bad" + uuid.uuid4().hex, tenant_id="no spaces*")
    assert r.status_code in (400, 422) and "error" in r.json(), r.text
    r = purge(gw, None, "req_purge_col" + uuid.uuid4().hex, collection="docs")
    assert r.status_code == 400 and r.json()["error"]["param"] == "tenant_id", r.text
    r = httpx.delete(f"{gw['base']}/v1/cache", timeout=60)
    assert r.status_code == 401, r.text


def test_entries_name_their_tenant_and_model(gw: dict[str, Any], redis_url: str, database_url: str) -> None:
    """What the purge filters on is in the stored entry: the Redis key, or the PostgreSQL row."""
    import redis

    from gureum.cache.exact import model_tag

    q = f"where am I {uuid.uuid4().hex[:6]}"
    stored(gw, "a-member", "gpt-other", q)
    if gw["mode"] == "redis":
        assert redis.Redis.from_url(redis_url).keys(f"gureum:cache:{gw['a']}:{model_tag('gpt-other')}:*")
    else:
        with psycopg.connect(database_url) as conn:
            row = conn.execute("SELECT count(*) FROM cache_entries WHERE tenant_id = %s AND model = %s",
                               (gw["a"], "gpt-other")).fetchone()
        assert row is not None and row[0] >= 1
