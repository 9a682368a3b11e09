"""Two gureum processes (`gureum serve --config`, real subprocesses) sharing one Redis and one
database never spend more than a hard budget, however the concurrent requests interleave."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from tests.conftest import ADMIN_KEY
from tests.governance.helpers import GureumProcess, make_key
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

WORDS = 100  # the fake's reply is 100 words = 100 completion tokens = max_tokens: actual == worst case


@pytest.fixture(scope="module")
def slow_upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI(reply=" ".join(["토큰"] * WORDS), name="slow")
    fake.default = "slow:0.4"  # every call is in flight while the others arrive
    with serve_app(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def replicas(database_url: str, redis_url: str, slow_upstream: tuple[FakeOpenAI, str],
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[GureumProcess], str, str]]:
    tmp: Path = tmp_path_factory.mktemp("replicas")
    tenant = "two" + uuid.uuid4().hex[:8]
    prefix = "gt" + uuid.uuid4().hex[:8]
    config = {
        "database_url": database_url,
        "redis_url": redis_url,
        "admin_key": ADMIN_KEY,
        "data_dir": str(tmp / "data"),
        "log_level": "warning",
        "providers": {"fake": {"kind": "openai", "base_url": f"{slow_upstream[1]}/v1", "api_key": "sk-x", "timeout": 30}},
        # output 0.01 per token, input free: max_tokens=100 reserves exactly 1.00 and costs exactly 1.00
        "deployments": [{"name": "gpt-test", "provider": "fake", "model": "fake-model", "region": "us",
                         "price": {"input": 0, "output": 10000}}],
        "governance": {"redis_prefix": prefix,
                       "tenants": {tenant: {"budgets": [{"scope": "tenant", "period": "day", "limit": 10}]}}},
    }
    a = GureumProcess(config, tmp, "a")
    b = GureumProcess(config, tmp, "b")
    try:
        a.start()
        b.start()  # after a: the first start bootstraps the admin key
        yield [a, b], tenant, prefix
    finally:
        a.stop()
        b.stop()


async def test_hard_budget_holds_across_replicas(replicas: tuple[list[GureumProcess], str, str], redis_url: str,
                                                 database_url: str) -> None:
    procs, tenant, prefix = replicas
    key = await asyncio.to_thread(make_key, procs[0].url, tenant)

    async def one(i: int, client: httpx.AsyncClient) -> tuple[int, str]:
        base = procs[i % 2].url
        r = await client.post(f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                              json={"model": "gpt-test", "max_tokens": WORDS,
                                    "messages": [{"role": "user", "content": f"request {i}"}]})
        return r.status_code, (r.json().get("error") or {}).get("code", "") if r.status_code != 200 else ""

    async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=100)) as client:
        for proc in procs:  # warm both replicas (key cache, connections) so neither starts late
            warm = await client.get(f"{proc.url}/v1/models", headers={"authorization": f"Bearer {key}"})
            assert warm.status_code == 200
        results = await asyncio.gather(*(one(i, client) for i in range(40)))
        # a second wave, after everything settled, gets nothing either
        late = await asyncio.gather(*(one(i, client) for i in range(4)))

    ok = [r for r in results if r[0] == 200]
    refused = [r for r in results if r[0] != 200]
    assert len(ok) == 10, results
    assert all(r == (429, "budget_exceeded") for r in refused + late), refused + late
    # each replica got 20 requests and alone would have admitted 10 of them: only shared counters
    # explain 10 in total (which replica won how many depends on timing)

    with psycopg.connect(database_url) as conn:
        spent = conn.execute("SELECT sum(cost) FROM ledger WHERE tenant_id = %s AND status = 200", (tenant,)).fetchone()[0]
    assert spent == pytest.approx(10.0) and spent <= 10.0 + 1e-9
    client = redis.Redis.from_url(redis_url)
    keys = [k for k in client.scan_iter(f"{prefix}:*:b:tenant:*") if not k.endswith(b":holds")]
    assert len(keys) == 1
    counter_spent, reserved = client.hmget(keys[0], "spent", "reserved")
    client.close()
    assert int(counter_spent) == 10_000_000 and int(reserved) == 0
