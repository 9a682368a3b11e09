"""One governed path for every model call. Each former way around the flow is closed:

- the knowledge layer's embeddings (ingestion and query vectors) are `embeddings` calls of the
  flow, so a residency rule refuses a foreign embedding deployment for a `kr-only` collection at
  ingest and at query time, before anything is sent;
- rerank and summary sub-calls reserve against and settle into the caller's budget counters,
  which end equal to the ledger, and are refused once the budget is spent;
- an in-process call as a principal writes the same ledger row and audit event as the HTTP call
  by that principal's key.

Real PostgreSQL, real Redis counters, the real e5 embedder, and the fake upstream on loopback as
the foreign embedder and the reranker.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from gureum.config import DeploymentSettings, Settings
from gureum.flow.gateway import ApiKey, Request
from gureum.flow.operations import CHAT
from gureum.governance.principal import Role
from gureum.platform import Platform
from tests.conftest import ADMIN_KEY
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

T = uuid.uuid4().hex[:6]
BUDGET_TENANT = f"bud{T}"
LIMIT = 0.05
DOCS = [{"uri": f"d{i}.md", "text": f"# 규정 {i}\n\n연차 휴가 규정 {i}조: 휴가는 미리 신청한다. 문서 번호 {i}."}
        for i in range(6)]
EXTRA = [
    {"name": "emb-us", "provider": "fake", "model": "fake-embed", "kind": "embedding", "region": "us",
     "dimensions": 4, "price": {"input": 1.0}},
    # ~60 words per rerank call: about 0.012 each, so the budget holds a few and then refuses.
    {"name": "rerank-us", "provider": "fake", "model": "fake-rerank", "kind": "rerank", "region": "us",
     "price": {"input": 200.0}},
]


def _settings(database_url: str, url: str, tmp: Path, **extra: Any) -> Settings:
    base = kn_gateway_settings(database_url, url, tmp, **extra)
    return base.model_copy(update={"deployments": [*base.deployments, *(DeploymentSettings(**d) for d in EXTRA)]})


@pytest.fixture(scope="module")
def env(database_url: str, redis_url: str, upstream: tuple[FakeOpenAI, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    fake, url = upstream
    gov = {"redis_prefix": f"gp{T}",
           "tenants": {BUDGET_TENANT: {"budgets": [{"scope": "tenant", "period": "day", "limit": LIMIT}]}}}
    settings = _settings(database_url, url, tmp_path_factory.mktemp("gp"), governance=gov, redis_url=redis_url)
    with serve_app(create_app(settings)) as base:
        yield {"api": Api(base), "fake": fake, "base": base}


def _embeds(fake: FakeOpenAI, since: int) -> list[dict[str, Any]]:
    return [b for b in fake.requests[since:] if "input" in b]


def test_a_foreign_embedder_never_embeds_a_kr_only_collection(env: dict[str, Any], database_url: str) -> None:
    api, fake = env["api"], env["fake"]
    admin = api.key(ADMIN_KEY, f"kr{T}", "admin", user="admin")
    member = api.key(ADMIN_KEY, f"kr{T}", user="kim")
    r = api.call("POST", "/v1/collections", admin, {"name": "kr-docs", "embedder": "emb-us", "residency": "kr-only"})
    assert r.status_code == 201, r.text
    n = len(fake.requests)
    r = api.call("POST", "/v1/collections/kr-docs/documents", admin, {"documents": DOCS[:2]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "residency_blocked", r.text
    assert "kr-only" in r.json()["error"]["message"] and _embeds(fake, n) == []  # refused before sending
    # Query time: a collection embedded abroad while that was allowed, then tagged kr-only.
    r = api.call("POST", "/v1/collections", admin, {"name": "later", "embedder": "emb-us", "residency": "us"})
    assert r.status_code == 201, r.text
    r = api.call("POST", "/v1/collections/later/documents", admin, {"documents": DOCS[:2]})
    assert r.status_code == 200 and r.json()["added"] == 2, r.text
    assert len(_embeds(fake, n)) == 1  # the two documents' sentences went as one governed batch
    assert api.call("PATCH", "/v1/collections/later", admin, {"residency": "kr-only"}).status_code == 200
    n = len(fake.requests)
    r = api.call("POST", "/v1/retrieve", member, {"collection": "later", "query": "휴가 신청"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "residency_blocked", r.text
    assert _embeds(fake, n) == []
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT action, decision, detail->>'parent' FROM audit_events WHERE tenant_id = %s "
                            "AND action = 'api.embeddings' ORDER BY seq", (f"kr{T}",)).fetchall()
    # ingest refused, ingest allowed, then the query's embedding refused as a sub-call of the retrieval
    assert [(a, d) for a, d, _ in rows] == [("api.embeddings", "deny"), ("api.embeddings", "allow"),
                                             ("api.embeddings", "deny")]
    assert rows[0][2] is None and rows[2][2] is not None


def _budget_spent(redis_url: str, tenant: str) -> int:
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.scan_iter(match=f"gp{T}:{{t:{tenant}}}:b:tenant:*") if not k.endswith(b":holds")]
    assert len(keys) == 1, keys
    return int(client.hget(keys[0], "spent") or 0)


def test_sub_calls_are_charged_to_the_callers_budget(env: dict[str, Any], database_url: str, redis_url: str) -> None:
    api = env["api"]
    admin = api.key(ADMIN_KEY, BUDGET_TENANT, "admin", user="admin")
    member = api.key(ADMIN_KEY, BUDGET_TENANT, user="kim")
    r = api.call("POST", "/v1/collections", admin, {"name": "handbook", "reranker": "rerank-us"})
    assert r.status_code == 201, r.text
    assert api.call("POST", "/v1/collections/handbook/documents", admin, {"documents": DOCS}).status_code == 200
    errors: list[str | None] = []
    for _ in range(30):
        r = api.call("POST", "/v1/retrieve", member, {"collection": "handbook", "query": "연차 휴가 신청"})
        assert r.status_code == 200, r.text  # retrieval itself costs nothing: only its reranks are refused
        errors.append((r.json()["rerank"].get("error") or {}).get("code"))
        if errors[-1] is not None:
            break
    assert errors[-1] == "budget_exceeded" and len(errors) > 1 and errors[:-1] == [None] * (len(errors) - 1)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT endpoint, parent_id, cost FROM ledger WHERE tenant_id = %s",
                            (BUDGET_TENANT,)).fetchall()
    reranks = [r for r in rows if r[0] == "rerank" and r[2] > 0]
    assert len(reranks) == len(errors) - 1 and all(p is not None for _, p, _ in reranks)
    total = sum(c for _, _, c in rows)
    assert 0 < total <= LIMIT
    assert abs(_budget_spent(redis_url, BUDGET_TENANT) - round(total * 1_000_000)) <= len(rows)


def _rows(database_url: str, rid: str) -> tuple[dict[str, Any], dict[str, Any]]:
    drop_ledger = {"id", "ts", "request_id", "latency_ms"}
    drop_audit = {"seq", "tenant_seq", "ts", "event_id", "request_id", "prev_hash", "hash"}
    with psycopg.connect(database_url) as conn:
        cur = conn.execute("SELECT * FROM ledger WHERE request_id = %s", (rid,))
        ledger = dict(zip([d.name for d in cur.description or []], cur.fetchone() or (), strict=True))
        cur = conn.execute("SELECT * FROM audit_events WHERE request_id = %s", (rid,))
        audit = dict(zip([d.name for d in cur.description or []], cur.fetchone() or (), strict=True))
    assert ledger and audit, rid
    return {k: v for k, v in ledger.items() if k not in drop_ledger}, {k: v for k, v in audit.items() if k not in drop_audit}


@pytest.fixture()
async def platform(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path: Path) -> AsyncIterator[Platform]:
    p = await Platform.start(_settings(database_url, upstream[1], tmp_path))
    yield p
    await p.stop()


async def test_an_in_process_call_writes_the_rows_an_http_call_writes(platform: Platform, database_url: str) -> None:
    from gureum.app import create_app

    secret, _ = await platform.keys.create(tenant_id=f"ip{T}", role=Role.MEMBER, user_id="kim", groups=["eng"],
                                           create_tenant=True)
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hello 010-1234-5678"}], "max_tokens": 8}
    app = create_app(platform.settings, platform)
    app.state.platform = platform  # the ASGI transport runs no lifespan
    http_rid, inproc_rid = "req_http" + uuid.uuid4().hex, "req_in" + uuid.uuid4().hex
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gureum") as client:
        r = await client.post("/v1/chat/completions", json=body,
                              headers={"authorization": f"Bearer {secret}", "x-request-id": http_rid})
    assert r.status_code == 200, r.text
    principal = await platform.keys.authenticate(secret)
    reply = await platform.complete(principal, Request(CHAT, body, "gpt-test", request_id=inproc_rid))
    assert reply.body is not None and reply.headers["x-request-id"] == inproc_rid
    assert reply.body["choices"][0]["message"]["content"] == r.json()["choices"][0]["message"]["content"]
    # The same path by key, from inside the process, also answers the same.
    by_key = await platform.complete(ApiKey(secret), Request(CHAT, body, "gpt-test"))
    assert by_key.body is not None and by_key.headers["x-gureum-deployment"] == reply.headers["x-gureum-deployment"]
    await asyncio.sleep(0)  # the ledger rows are queued in the same commit as the audit events
    http_ledger, http_audit = _rows(database_url, http_rid)
    in_ledger, in_audit = _rows(database_url, inproc_rid)
    assert in_ledger == http_ledger
    assert in_audit == http_audit
    with psycopg.connect(database_url) as conn:
        seqs = dict(conn.execute("SELECT request_id, tenant_seq FROM audit_events WHERE request_id IN (%s, %s)",
                                 (http_rid, inproc_rid)).fetchall())
    assert seqs[inproc_rid] == seqs[http_rid] + 1  # one numbering per tenant, whichever way the call came in
    assert in_audit["action"] == "api.chat" and in_audit["detail"]["pii_types"] == ["KR_PHONE"]
    assert in_ledger["user_id"] == "kim" and in_ledger["origin"] == "api" and in_ledger["parent_id"] is None


async def test_usage_shows_cost_per_workload(platform: Platform) -> None:
    """The ledger's `origin` is the seed's cost view per workload: inference, agents, jobs, knowledge."""
    from gureum.economy.usage import UsageQuery, report
    from gureum.governance.principal import Principal

    tenant = f"wl{T}"
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}
    for origin in ("api", "agent", "agent", "job"):
        await platform.complete(Principal.service(tenant, "bench"), Request(CHAT, body, "gpt-test"), origin=origin)
    rows = await report(platform.store.engine, UsageQuery(tenant, ["origin"]))
    requests = {r["origin"]: r["requests"] for r in rows}
    assert requests == {"api": 1, "agent": 2, "job": 1}
