"""Two `gureum serve` processes on one PostgreSQL and one Redis, behind nginx round-robin on
loopback (Debian's nginx): keys and their revocation, rate limits, budgets, the exact cache, RAG
and the audit chain stay correct while requests alternate between the replicas — and when one is
killed mid-load, requests in flight fail with a clear error and nothing acknowledged is lost.

tests/governance/test_two_replicas.py shows the hard budget under concurrency on the replicas
directly; this module puts them behind a load balancer and covers the rest."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import ADMIN_KEY
from tests.deploy.nginx import Nginx
from tests.governance.helpers import GureumProcess
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import create_key
from tests.support.servers import serve_app

pytestmark = pytest.mark.skipif(shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
                                reason="nginx is not installed (scripts/test.sh installs it)")

WORDS = 20  # replies are 20 words = 20 completion tokens; with output at 50,000 per 1M a call costs 1.00
RUN = uuid.uuid4().hex[:6]
LIMITED, BUDGETED, LOADED, RAG = (f"{n}{RUN}" for n in ("rl", "bud", "load", "rag"))


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(reply=" ".join(["word"] * WORDS))
    with serve_app(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def cluster(database_url: str, redis_url: str, upstream: tuple[FakeOpenAI, str],
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Nginx, list[GureumProcess]]]:
    tmp = tmp_path_factory.mktemp("lb")
    tmp.chmod(0o755)
    config: dict[str, Any] = {
        "database_url": database_url, "redis_url": redis_url, "admin_key": ADMIN_KEY, "data_dir": str(tmp / "data"),
        "log_level": "warning", "shutdown_grace": 2,
        "providers": {"fake": {"kind": "openai", "base_url": f"{upstream[1]}/v1", "api_key": "sk-x", "timeout": 30},
                      "local": {"kind": "local"}},
        "deployments": [
            {"name": "gpt-test", "provider": "fake", "model": "fake-model", "region": "us",
             "price": {"input": 0, "output": 50000}, "max_output_tokens": WORDS},
            {"name": "local-embed", "provider": "local", "model": "multilingual-e5-small", "kind": "embedding",
             "region": "local", "dimensions": 384, "context_window": 512},
        ],
        "governance": {"redis_prefix": f"lb{RUN}", "tenants": {
            LIMITED: {"rpm": 6},
            BUDGETED: {"budgets": [{"scope": "tenant", "period": "day", "limit": 3}]},
        }},
    }
    replicas = [GureumProcess(config, tmp, "a"), GureumProcess(config, tmp, "b")]
    lb = Nginx(tmp, [r.port for r in replicas])
    try:
        for r in replicas:
            r.start()  # one after the other: the first start bootstraps the admin key
        lb.start()
        yield lb, replicas
    finally:
        lb.stop()
        for r in replicas:
            r.stop()


def _auth(key: str, **extra: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}", **extra}


def _key(lb: Nginx, tenant: str, role: str = "member", groups: list[str] | None = None) -> tuple[str, str]:
    return create_key(lb.url, tenant, role, groups=groups)


def _chat(lb: Nginx, key: str, content: str = "hi", **body: Any) -> httpx.Response:
    return httpx.post(f"{lb.url}/v1/chat/completions", headers=_auth(key, **body.pop("headers", {})),
                      json={"model": "gpt-test", "messages": [{"role": "user", "content": content}], **body},
                      timeout=30)


def _served_by_both(lb: Nginx, last: int) -> bool:
    return len(set(lb.upstreams()[-last:])) == 2


def test_requests_alternate_and_keys_work_on_both(cluster: tuple[Nginx, list[GureumProcess]]) -> None:
    lb, _ = cluster
    key, _ = _key(lb, f"k{RUN}")
    codes = [_chat(lb, key, f"q{i}").status_code for i in range(6)]
    assert codes == [200] * 6
    served = Counter(lb.upstreams()[-6:])
    assert len(served) == 2 and set(served.values()) == {3}, served  # round-robin: 3 each


def test_revocation_reaches_both_replicas(cluster: tuple[Nginx, list[GureumProcess]]) -> None:
    lb, _ = cluster
    key, key_id = _key(lb, f"k{RUN}")
    assert _chat(lb, key).status_code == 200
    assert httpx.delete(f"{lb.url}/v1/admin/keys/{key_id}", headers=_auth(ADMIN_KEY)).status_code == 200
    deadline = time.monotonic() + 6  # the README promises every replica within 5 s
    while time.monotonic() < deadline and [_chat(lb, key).status_code for _ in range(2)] != [401, 401]:
        time.sleep(0.25)
    assert [_chat(lb, key).status_code for _ in range(4)] == [401] * 4 and _served_by_both(lb, 4)


def test_rate_limit_is_one_limit_across_replicas(cluster: tuple[Nginx, list[GureumProcess]]) -> None:
    lb, _ = cluster
    key, _ = _key(lb, LIMITED)
    responses = [_chat(lb, key, f"r{i}") for i in range(12)]
    codes = [r.status_code for r in responses]
    assert codes.count(200) == 6 and codes.count(429) == 6, codes  # each replica alone would admit 12
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.json()["error"]["code"] == "rate_limit_exceeded" and refused.headers.get("retry-after")
    assert _served_by_both(lb, 12)


async def test_budget_is_one_budget_across_replicas(cluster: tuple[Nginx, list[GureumProcess]],
                                                    database_url: str) -> None:
    lb, _ = cluster
    key, _ = _key(lb, BUDGETED)
    async with httpx.AsyncClient(timeout=60) as client:
        results = await asyncio.gather(*(
            client.post(f"{lb.url}/v1/chat/completions", headers=_auth(key),
                        json={"model": "gpt-test", "max_tokens": WORDS, "messages": [{"role": "user", "content": f"b{i}"}]})
            for i in range(10)))
    codes = [r.status_code for r in results]
    assert codes.count(200) == 3 and codes.count(429) == 7, codes
    with psycopg.connect(database_url) as conn:
        spent = conn.execute("SELECT sum(cost) FROM ledger WHERE tenant_id = %s", (BUDGETED,)).fetchone()[0]
    assert spent == pytest.approx(3.0)


def test_exact_cache_is_shared(cluster: tuple[Nginx, list[GureumProcess]], upstream: tuple[FakeOpenAI, str]) -> None:
    lb, _ = cluster
    fake, _ = upstream
    key, _ = _key(lb, f"c{RUN}")
    question = f"What is the capital of France? ({RUN})"
    before = len(fake.requests)
    first = _chat(lb, key, question, temperature=0)
    second = _chat(lb, key, question, temperature=0)
    assert first.status_code == second.status_code == 200
    assert lb.upstreams()[-1] != lb.upstreams()[-2]  # answered by the other replica
    assert "x-gureum-cache-age" in second.headers and "x-gureum-cache-age" not in first.headers
    assert second.json()["choices"][0]["message"] == first.json()["choices"][0]["message"]
    assert len(fake.requests) == before + 1  # the upstream was asked once


def test_rag_written_on_one_replica_reads_on_both(cluster: tuple[Nginx, list[GureumProcess]]) -> None:
    lb, _ = cluster
    admin, _ = _key(lb, RAG, role="admin")
    r = httpx.post(f"{lb.url}/v1/collections", headers=_auth(admin), json={"name": "handbook"}, timeout=60)
    assert r.status_code == 201, r.text
    docs = [
        {"uri": "leave.md", "text": "# 휴가\n\n연차 휴가는 매년 15일이 주어진다.", "acl": {"groups": ["staff"]}},
        {"uri": "salary.md", "text": "# 급여\n\n임원 급여는 이사회가 정한다.", "acl": {"groups": ["board"]}},
    ]
    r = httpx.post(f"{lb.url}/v1/collections/handbook/documents", headers=_auth(admin), json={"documents": docs},
                   timeout=120)
    assert r.status_code == 200 and r.json()["added"] == 2, r.text
    staff, _ = _key(lb, RAG, groups=["staff"])
    seen = []
    for _ in range(2):
        r = httpx.post(f"{lb.url}/v1/retrieve", headers=_auth(staff),
                       json={"collection": "handbook", "query": "휴가는 며칠인가요?", "k": 5}, timeout=60)
        assert r.status_code == 200, r.text
        seen.append([h["uri"] for h in r.json()["data"]])
    assert _served_by_both(lb, 2)
    assert seen[0] == seen[1] and "leave.md" in seen[0] and "salary.md" not in seen[0]


async def test_one_replica_killed_mid_load(cluster: tuple[Nginx, list[GureumProcess]], upstream: tuple[FakeOpenAI, str],
                                           database_url: str) -> None:
    lb, replicas = cluster
    fake, _ = upstream
    key, _ = _key(lb, LOADED)
    fake.default = "slow:0.3"  # every call is in flight for a while
    sem = asyncio.Semaphore(8)

    async def one(i: int, client: httpx.AsyncClient) -> tuple[str, int, dict[str, Any]]:
        rid = f"load-{RUN}-{i}"
        async with sem:
            r = await client.post(f"{lb.url}/v1/chat/completions", headers=_auth(key, **{"x-request-id": rid}),
                                  json={"model": "gpt-test", "messages": [{"role": "user", "content": f"l{i}"}]})
        return rid, r.status_code, r.json()

    async def kill_soon() -> None:
        await asyncio.sleep(0.8)
        await asyncio.to_thread(replicas[1].kill9)

    try:
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=16)) as client:
            results, _ = await asyncio.gather(asyncio.gather(*(one(i, client) for i in range(48))), kill_soon())
            after = [await one(100 + i, client) for i in range(6)]  # the survivor serves everything now
    finally:
        fake.default = "ok"
    ok = [rid for rid, status, _ in results if status == 200]
    failed = [(status, body) for _, status, body in results if status != 200]
    assert len(ok) >= 24 and failed, (len(ok), failed)  # some were in flight on the killed replica
    for status, body in failed:  # a clear error in OpenAI's shape, never an HTML page or a hang
        assert status in (502, 503, 504) and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert [status for _, status, _ in after] == [200] * 6
    ok += [rid for rid, _, _ in after]
    with psycopg.connect(database_url) as conn:
        ledger = Counter(row[0] for row in conn.execute(
            "SELECT request_id FROM ledger WHERE tenant_id = %s AND status = 200", (LOADED,)))
        audited = {row[0] for row in conn.execute(
            "SELECT request_id FROM audit_events WHERE tenant_id = %s AND status = 200", (LOADED,))}
    assert all(ledger[rid] == 1 for rid in ok), "an acknowledged request lost its ledger row"
    assert set(ok) <= audited, "an acknowledged request lost its audit event"
    assert max(ledger.values()) == 1, "a request was accounted twice"
    verify = httpx.get(f"{lb.url}/v1/audit/verify", headers=_auth(ADMIN_KEY), timeout=60).json()
    assert verify["ok"] is True and verify["checked"] > len(ok), verify  # one chain, both replicas' events
    replicas[1].start()  # back for the teardown's orderly stop
