"""Budgets: reserve the worst case, settle the real cost, refuse a hard budget, warn on a soft
one, survive restarts through the ledger, release on errors, settle streams at their end."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis

from gureum.flow.operations import CHAT
from gureum.flow.types import Context, Reply
from gureum.governance.budgets import pressure, window
from gureum.governance.principal import Principal, Role
from tests.conftest import gateway_settings
from tests.governance.helpers import chat, make_key
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

# output 0.01 per token, input free: max_tokens=10 reserves 0.10; the fake's 5-word reply costs 0.05
PRICED = [{"name": "gpt-test", "provider": "fake", "model": "fake-model", "price": {"input": 0, "output": 10000},
           "region": "us"}]


def _serve(database_url: str, url: str, tmp: Path, gov: dict[str, Any], **extra: Any) -> Any:
    from gureum.app import create_app

    settings = gateway_settings(database_url, {"fake": url}, tmp, deployments=PRICED, governance=gov, **extra)
    return serve_app(create_app(settings))


def _ledger_cost(database_url: str, tenant: str) -> float:
    with psycopg.connect(database_url) as conn:
        return float(conn.execute("SELECT coalesce(sum(cost), 0) FROM ledger WHERE tenant_id = %s", (tenant,)).fetchone()[0])


def test_hard_budget_in_process_and_after_restart(database_url: str, upstream: tuple[FakeOpenAI, str],
                                                  tmp_path: Path) -> None:
    tenant = "hb" + uuid.uuid4().hex[:8]
    gov = {"tenants": {tenant: {"budgets": [{"scope": "tenant", "period": "day", "limit": 0.25}]}}}
    with _serve(database_url, upstream[1], tmp_path, gov) as base:
        key = make_key(base, tenant)
        codes = [chat(base, key, max_tokens=10).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 200, 429]  # 0.20 spent: the next 0.10 worst case does not fit
        r = chat(base, key, max_tokens=10)
        err = r.json()["error"]
        assert r.status_code == 429 and err["code"] == "budget_exceeded" and err["type"] == "insufficient_quota"
        assert "hard day budget of tenant" in err["message"] and "0.25" in err["message"]
        assert r.headers["x-should-retry"] == "false" and int(r.headers["retry-after"]) > 0
        # a smaller worst case still fits
        assert chat(base, key, max_tokens=5).status_code == 200
    assert _ledger_cost(database_url, tenant) == pytest.approx(0.25)
    # a new process (fresh in-process counters) seeds from the ledger: still exhausted
    with _serve(database_url, upstream[1], tmp_path, gov) as base:
        r = chat(base, key, max_tokens=1)
        assert r.status_code == 429 and r.json()["error"]["code"] == "budget_exceeded"


def test_calls_cheaper_than_a_micro_unit_cannot_outspend_a_hard_budget(
    database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    """Each call costs half a micro-unit; counted to the nearest unit they would cost nothing and
    never meet the limit while the ledger grew past it."""
    tenant = "hm" + uuid.uuid4().hex[:8]
    cheap = [{**PRICED[0], "price": {"input": 0, "output": 0.1}}]  # the fake's 5-word reply: 0.5 µ
    gov = {"tenants": {tenant: {"budgets": [{"scope": "tenant", "period": "day", "limit": 0.000003}]}}}
    from gureum.app import create_app

    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path, deployments=cheap, governance=gov)
    with serve_app(create_app(settings)) as base:
        key = make_key(base, tenant)
        codes = [chat(base, key, max_tokens=10).status_code for _ in range(8)]
    assert 429 in codes and codes[0] == 200
    assert _ledger_cost(database_url, tenant) <= 0.000003


def test_soft_budget_warns(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path: Path) -> None:
    tenant = "sb" + uuid.uuid4().hex[:8]
    gov = {"tenants": {tenant: {"budgets": [{"scope": "user", "period": "month", "limit": 0.1, "mode": "soft"}]}}}
    with _serve(database_url, upstream[1], tmp_path, gov) as base:
        key = make_key(base, tenant, user="u1")
        r = chat(base, key, max_tokens=5)
        assert r.status_code == 200 and "x-gureum-budget-warning" not in r.headers
        warnings = []
        for _ in range(3):
            r = chat(base, key, max_tokens=5)
            assert r.status_code == 200
            warnings.append(r.headers.get("x-gureum-budget-warning"))
        assert warnings[-1] is not None and "soft month budget of user 'u1'" in warnings[-1]
        # a key without a user is not under a user budget
        anon = make_key(base, tenant)
        assert "x-gureum-budget-warning" not in chat(base, anon, max_tokens=5).headers


def test_key_budget_is_per_key(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path: Path) -> None:
    tenant = "kb" + uuid.uuid4().hex[:8]
    gov = {"defaults": {"budgets": [{"scope": "key", "period": "day", "limit": 0.1}]}}
    with _serve(database_url, upstream[1], tmp_path, gov) as base:
        a, b = make_key(base, tenant), make_key(base, tenant)
        assert chat(base, a, max_tokens=10).status_code == 200
        assert chat(base, a, max_tokens=10).status_code == 429
        assert chat(base, b, max_tokens=10).status_code == 200


@pytest.fixture(scope="module")
def shared(database_url: str, upstream: tuple[FakeOpenAI, str], redis_url: str,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str, redis.Redis]]:
    tenant = "rb" + uuid.uuid4().hex[:8]
    prefix = "gt" + uuid.uuid4().hex[:8]
    gov = {"redis_prefix": prefix, "tenants": {tenant: {"budgets": [{"scope": "tenant", "period": "day", "limit": 5}]}}}
    client = redis.Redis.from_url(redis_url)
    with _serve(database_url, upstream[1], tmp_path_factory.mktemp("rb"), gov, redis_url=redis_url) as base:
        key = f"{prefix}:{{t:{tenant}}}:b:tenant:{tenant}:day:{window('day', datetime.now(UTC), _utc()).label}"
        yield base, make_key(base, tenant), key, client
    client.close()


def _utc() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("UTC")


def _counter(client: redis.Redis, key: str) -> tuple[float, float]:
    spent, reserved = client.hmget(key, "spent", "reserved")
    return int(spent or 0) / 1e6, int(reserved or 0) / 1e6


def test_error_releases_the_hold(shared: tuple[str, str, str, redis.Redis], upstream: tuple[FakeOpenAI, str]) -> None:
    base, key, counter, client = shared
    before = _counter(client, counter) if client.exists(counter) else (0.0, 0.0)
    upstream[0].script("error:500", "error:500")
    r = chat(base, key, max_tokens=10)
    assert r.status_code == 502
    spent, reserved = _counter(client, counter)
    assert reserved == 0 and spent == pytest.approx(before[0])


def test_stream_settles_at_its_end(shared: tuple[str, str, str, redis.Redis], database_url: str,
                                   upstream: tuple[FakeOpenAI, str]) -> None:
    base, key, counter, client = shared
    upstream[0].script("drip:0.2")  # keep the stream open long enough to look at the hold
    with httpx.stream("POST", f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                      json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10,
                            "stream": True}, timeout=30) as r:
        assert r.status_code == 200
        held = _counter(client, counter)[1]
        assert held == pytest.approx(0.10)  # reserved while the stream is open
        body = r.read().decode()
    assert "[DONE]" in body
    tenant = counter.split("{t:")[1].split("}")[0]
    spent, reserved = _counter(client, counter)
    assert reserved == 0
    assert spent == pytest.approx(_ledger_cost(database_url, tenant))


def test_counter_is_reseeded_from_the_ledger(shared: tuple[str, str, str, redis.Redis], database_url: str) -> None:
    base, key, counter, client = shared
    assert chat(base, key, max_tokens=10).status_code == 200
    tenant = counter.split("{t:")[1].split("}")[0]
    client.delete(counter, counter + ":holds")  # Redis restarted / evicted
    assert chat(base, key, max_tokens=10).status_code == 200
    spent, _ = _counter(client, counter)
    assert spent == pytest.approx(_ledger_cost(database_url, tenant))


# --- budget pressure for cost-aware routing -------------------------------------------------------


def test_pressure_is_the_worst_budget() -> None:
    from gureum.governance.budgets import Applied
    from gureum.governance.counters import BudgetSpec
    from gureum.governance.settings import BudgetSettings

    now = datetime.now(UTC)
    w = window("day", now, _utc())
    a = Applied(BudgetSettings(scope="tenant", period="day", limit=10), "t", w, BudgetSpec("k1", 10_000_000, 0, True, 1))
    b = Applied(BudgetSettings(scope="user", period="day", limit=1, mode="soft"), "u", w,
                BudgetSpec("k2", 1_000_000, 0, False, 1))
    assert pressure([a, b], [(1_000_000, 0), (600_000, 200_000)]) == pytest.approx(0.8)
    assert pressure([a, b], [(0, 0), (3_000_000, 0)]) == 1.0
    assert pressure([], []) == 0.0


async def test_limits_stage_sets_pressure(tmp_path: Path) -> None:
    import httpx as _httpx

    from gureum.config import load_settings
    from gureum.flow.stages.limits import Limits
    from gureum.governance.counters import MemoryCounters
    from gureum.governance.policy import Policy
    from gureum.providers import registry
    from gureum.providers.base import Usage
    from gureum.routing.catalog import Catalog

    settings = load_settings(
        use_file=False, data_dir=tmp_path,
        providers={"fake": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}}, deployments=PRICED,
        governance={"defaults": {"budgets": [{"scope": "tenant", "period": "day", "limit": 1.0, "mode": "soft"}]}},
    )
    async with _httpx.AsyncClient() as http:
        providers = {n: registry.create(n, ps, http) for n, ps in settings.providers.items()}
        catalog = Catalog(settings, providers)
        policy = Policy(settings.governance, catalog)
        stage = Limits(policy, MemoryCounters(), None, settings.governance)
        seen = []

        async def call(ctx: Context) -> Reply:
            seen.append(ctx.budget_pressure)
            ctx.deployment = catalog.deployments["gpt-test@fake"]
            ctx.usage = Usage(0, 25)  # 0.25 each
            return Reply(body={})

        for i in range(5):
            ctx = Context(CHAT, {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}],
                                          "max_tokens": 30}, f"r{i}", principal=Principal("t1", "k1", Role.MEMBER),
                          model="gpt-test")
            reply = await stage(ctx, call)
            if i == 4:
                assert "x-gureum-budget-warning" in reply.headers
    assert seen == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0])


def test_periods_follow_the_configured_time_zone() -> None:
    from zoneinfo import ZoneInfo

    kst = ZoneInfo("Asia/Seoul")
    now = datetime(2024, 12, 31, 16, 30, tzinfo=UTC)  # already 2025-01-01 01:30 in Seoul
    day, month = window("day", now, kst), window("month", now, kst)
    assert (day.label, month.label) == ("2025-01-01", "2025-01")
    assert day.start.astimezone(UTC) == datetime(2024, 12, 31, 15, 0, tzinfo=UTC)
    assert month.end.astimezone(UTC) == datetime(2025, 1, 31, 15, 0, tzinfo=UTC)
    assert window("day", now, _utc()).label == "2024-12-31"
