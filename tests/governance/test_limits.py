"""Rate limits: the counter backends (one contract, run against in-process and real Redis) and
RPM/TPM through the running gateway with OpenAI's headers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gureum.errors import BudgetExceeded
from gureum.governance.counters import (
    BudgetSpec,
    Counters,
    MemoryCounters,
    RateSpec,
    RedisCounters,
)
from gureum.governance.limits import duration
from tests.conftest import gateway_settings
from tests.governance.helpers import chat, make_key
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

# --- the counter contract ------------------------------------------------------------------------


@pytest.fixture(params=["memory", "redis"])
async def counters(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Counters]:
    if request.param == "memory":
        yield MemoryCounters()
        return
    import redis.asyncio

    client = redis.asyncio.Redis.from_url(redis_url)
    yield RedisCounters(client)
    await client.aclose()


def _key(kind: str) -> str:
    return f"gtest:{{t:{uuid.uuid4().hex[:8]}}}:{kind}"


def budget(limit: int, amount: int, hard: bool = True, key: str | None = None) -> BudgetSpec:
    return BudgetSpec(key or _key("b"), limit, amount, hard, 60_000)


async def test_rate_allows_limit_then_says_when(counters: Counters) -> None:
    r = RateSpec(_key("rpm"), 3, 60_000, 1)
    remaining = []
    for i in range(3):
        v = await counters.reserve(f"r{i}", [r], [], 1000)
        assert v.kind == "ok"
        remaining.append(v.rates[0].remaining)
    assert remaining == [2, 1, 0]
    v = await counters.reserve("r4", [r], [], 1000)
    assert v.kind == "rate" and v.index == 0
    assert 15_000 <= v.retry_ms <= 20_001  # one request's worth of a 3/min bucket


async def test_budget_needs_seed_then_holds_and_refuses(counters: Counters) -> None:
    b = budget(limit=100, amount=40)
    assert (await counters.reserve("a", [], [b], 10_000)).kind == "seed"
    await counters.seed(b, 10)
    assert (await counters.reserve("a", [], [b], 10_000)).kind == "ok"
    v = await counters.reserve("b", [], [b], 10_000)
    assert v.kind == "ok" and v.budgets == [(10, 40)]
    v = await counters.reserve("c", [], [b], 10_000)  # 10 + 80 + 40 > 100
    assert v.kind == "budget" and v.budgets == [(10, 80)]
    await counters.settle("a", [(b, 5)], [])
    await counters.settle("a", [(b, 5)], [])  # settling twice must not release twice
    v = await counters.reserve("c", [], [b], 10_000)  # 20 spent + 40 held + 40 = 100
    assert v.kind == "ok" and v.budgets[0] == (20, 40)


async def test_free_calls_hold_and_settle_zero(counters: Counters) -> None:
    """A call on a free model (the embedded embedder) reserves 0 and settles 0, like any other."""
    b = budget(limit=100, amount=0)
    await counters.seed(b, 30)
    assert (await counters.reserve("free", [], [b], 10_000)).kind == "ok"
    await counters.settle("free", [(b, 0)], [])
    v = await counters.reserve("next", [], [b], 10_000)
    assert v.kind == "ok" and v.budgets == [(30, 0)]


async def test_soft_budget_never_refuses(counters: Counters) -> None:
    b = budget(limit=10, amount=40, hard=False)
    await counters.seed(b, 0)
    assert (await counters.reserve("x", [], [b], 10_000)).kind == "ok"
    assert (await counters.reserve("y", [], [b], 10_000)).kind == "ok"


async def test_all_or_nothing(counters: Counters) -> None:
    r = RateSpec(_key("rpm"), 2, 60_000, 1)
    b = budget(limit=10, amount=20)
    await counters.seed(b, 0)
    for i in range(3):
        assert (await counters.reserve(f"q{i}", [r], [b], 10_000)).kind == "budget"
    # the refused requests took nothing from the rate limit
    assert (await counters.reserve("ok1", [r], [], 10_000)).kind == "ok"
    assert (await counters.reserve("ok2", [r], [], 10_000)).kind == "ok"


async def test_expired_hold_is_released(counters: Counters) -> None:
    b = budget(limit=100, amount=100)
    await counters.seed(b, 0)
    assert (await counters.reserve("crashed", [], [b], 50)).kind == "ok"  # never settled
    assert (await counters.reserve("next", [], [b], 10_000)).kind == "budget"
    await asyncio.sleep(0.12)
    assert (await counters.reserve("next", [], [b], 10_000)).kind == "ok"


async def test_a_renewed_hold_outlives_its_first_expiry(counters: Counters) -> None:
    b = budget(limit=100, amount=100)
    await counters.seed(b, 0)
    assert (await counters.reserve("long", [], [b], 100)).kind == "ok"
    await counters.renew("long", [b], 10_000)
    await asyncio.sleep(0.15)  # past the first expiry: still held
    assert (await counters.reserve("next", [], [b], 10_000)).kind == "budget"
    await counters.settle("long", [(b, 0)], [])
    assert (await counters.reserve("next", [], [b], 10_000)).kind == "ok"


async def test_an_expired_hold_is_not_renewed(counters: Counters) -> None:
    b = budget(limit=100, amount=100)
    await counters.seed(b, 0)
    assert (await counters.reserve("dead", [], [b], 50)).kind == "ok"
    await asyncio.sleep(0.1)
    await counters.renew("dead", [b], 10_000)  # too late: the hold is gone, not taken again
    assert (await counters.reserve("next", [], [b], 10_000)).kind == "ok"


async def test_tokens_are_corrected_on_settle(counters: Counters) -> None:
    r = RateSpec(_key("tpm"), 1000, 60_000, 900)
    assert (await counters.reserve("big", [r], [], 1000)).kind == "ok"
    assert (await counters.reserve("more", [r], [], 1000)).kind == "rate"
    await counters.settle("big", [], [(r, 100 - 900)])  # it really used 100 tokens
    v = await counters.reserve("more", [r], [], 1000)
    assert v.kind == "ok" and 0 <= v.rates[0].remaining <= 100


async def test_concurrent_reservations_never_overspend(counters: Counters) -> None:
    b = budget(limit=1000, amount=100)
    await counters.seed(b, 0)
    verdicts = await asyncio.gather(*(counters.reserve(f"c{i}", [], [b], 10_000) for i in range(50)))
    assert sum(v.kind == "ok" for v in verdicts) == 10


def test_duration_format() -> None:
    assert duration(20) == "20ms"
    assert duration(1000) == "1s"
    assert duration(360_000) == "6m0s"
    assert duration(1500) == "1.5s"


# --- through the gateway -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def limited(database_url: str, upstream: tuple[FakeOpenAI, str], redis_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from gureum.app import create_app

    tenant = "rl" + uuid.uuid4().hex[:8]
    gov = {
        "redis_prefix": "gt" + uuid.uuid4().hex[:8],
        "tenants": {
            tenant: {"key_rpm": 3, "tpm": 2000},
        },
    }
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("rl"),
                                governance=gov, redis_url=redis_url)
    with serve_app(create_app(settings)) as base:
        yield base, tenant


def test_rpm_per_key_with_openai_headers(limited: tuple[str, str], database_url: str) -> None:
    base, tenant = limited
    key = make_key(base, tenant)
    other = make_key(base, tenant)
    seen = []
    for _ in range(3):
        r = chat(base, key, max_tokens=10)
        assert r.status_code == 200, r.text
        seen.append(r.headers["x-ratelimit-remaining-requests"])
        assert r.headers["x-ratelimit-limit-requests"] == "3"
        assert r.headers["x-ratelimit-limit-tokens"] == "2000"
        assert r.headers["x-ratelimit-reset-requests"].endswith("s")
    assert seen == ["2", "1", "0"]
    r = chat(base, key, max_tokens=10)
    assert r.status_code == 429
    assert int(r.headers["retry-after"]) >= 1
    assert r.headers["x-ratelimit-remaining-requests"] == "0"
    err = r.json()["error"]
    assert err["code"] == "rate_limit_exceeded" and err["type"] == "rate_limit_error"
    assert "requests per minute of key" in err["message"]
    # another key of the same tenant has its own per-key budget
    assert chat(base, other, max_tokens=10).status_code == 200
    # the refusal is audited as a deny that names the limit
    rid = r.headers.get("x-request-id") or ""
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT decision, status, detail->>'reason' FROM audit_events WHERE tenant_id = %s AND status = 429 "
            "ORDER BY seq DESC LIMIT 1", (tenant,)
        ).fetchone()
    assert row is not None and row[0] == "deny" and "requests per minute" in row[2], rid


def test_tpm_too_large_and_tenant_tokens(limited: tuple[str, str]) -> None:
    base, tenant = limited
    key = make_key(base, tenant)
    r = chat(base, key, max_tokens=5000)
    assert r.status_code == 429
    assert "Request too large" in r.json()["error"]["message"]
    assert r.headers["x-should-retry"] == "false"
    r = chat(base, key, max_tokens=1500)
    assert r.status_code == 200, r.text
    # the call really used ~20 tokens: the settle refunds the rest, so a second large one fits
    assert int(r.headers["x-ratelimit-remaining-tokens"]) < 600
    assert chat(base, key, max_tokens=1500).status_code == 200


def test_unlimited_tenant_has_no_headers(limited: tuple[str, str]) -> None:
    base, _ = limited
    key = make_key(base, "free" + uuid.uuid4().hex[:6])
    r = chat(base, key)
    assert r.status_code == 200
    assert "x-ratelimit-limit-requests" not in r.headers


async def test_concurrent_rpm_is_exact(limited: tuple[str, str], tmp_path: Path) -> None:
    base, tenant = limited
    key = await asyncio.to_thread(make_key, base, tenant)
    async with httpx.AsyncClient(timeout=30) as client:
        rs = await asyncio.gather(*(
            client.post(f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {key}"},
                        json={"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5})
            for _ in range(12)
        ))
    assert sorted(r.status_code for r in rs) == [200] * 3 + [429] * 9


async def test_unreachable_redis_fails_closed_or_open(tmp_path: Path) -> None:
    import redis.asyncio

    from gureum.config import load_settings
    from gureum.errors import ServiceUnavailable
    from gureum.flow.operations import CHAT
    from gureum.flow.stages.limits import Limits
    from gureum.flow.types import Context, Reply
    from gureum.governance.policy import Policy
    from gureum.governance.principal import Principal, Role

    dead = redis.asyncio.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    calls = []

    async def call(ctx: Context) -> Reply:
        calls.append(ctx.request_id)
        return Reply(body={})

    for fail_open in (False, True):
        settings = load_settings(use_file=False, data_dir=tmp_path,
                                 governance={"defaults": {"rpm": 10}, "fail_open": fail_open})
        stage = Limits(Policy(settings.governance), RedisCounters(dead), None, settings.governance)
        ctx = Context(CHAT, {"messages": []}, f"r-{fail_open}",
                      principal=Principal("t", "k", Role.MEMBER), model="m")
        if fail_open:
            assert (await stage(ctx, call)).body == {}
        else:
            with pytest.raises(ServiceUnavailable, match="counter store unreachable"):
                await stage(ctx, call)
    assert calls == ["r-True"]
    await dead.aclose()


async def test_a_stream_longer_than_a_hold_keeps_its_reservation(tmp_path: Path) -> None:
    """A budget hold lives as long as its stream, however long: renewed while the stream is open."""
    from gureum.config import load_settings
    from gureum.flow.operations import CHAT
    from gureum.flow.stages.limits import Limits
    from gureum.flow.types import Context, Reply
    from gureum.governance.policy import Policy
    from gureum.governance.principal import Principal, Role
    from gureum.routing.catalog import Catalog

    settings = load_settings(
        use_file=False, data_dir=tmp_path, providers={"fake": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        deployments=[{"name": "m", "provider": "fake", "model": "x", "price": {"output": 10_000}}],
        governance={"defaults": {"budgets": [{"scope": "tenant", "period": "day", "limit": 0.15}]}},
    )
    catalog = Catalog(settings, {"fake": object()})  # type: ignore[dict-item]
    stage = Limits(Policy(settings.governance, catalog), MemoryCounters(), None, settings.governance, hold_seconds=0.3)

    async def slow_stream(ctx: Context) -> Reply:
        async def chunks() -> Any:
            for _ in range(6):
                await asyncio.sleep(0.2)
                yield {"choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None}]}
        ctx.deployment = catalog.deployments["m@fake"]
        return Reply(stream=chunks())

    def ctx(rid: str) -> Context:  # max_tokens 10 at 0.01 each: a 0.10 worst case
        return Context(CHAT, {"messages": [{"role": "user", "content": "x"}], "max_tokens": 10}, rid,
                       principal=Principal("t", "k", Role.MEMBER), model="m", stream=True)

    reply = await stage(ctx("long"), slow_stream)
    assert reply.stream is not None
    first = await anext(reply.stream)
    await asyncio.sleep(0.5)  # the first hold (0.3 s) would have expired by now
    with pytest.raises(BudgetExceeded):
        await stage(ctx("second"), slow_stream)
    rest = [c async for c in reply.stream]
    assert first and len(rest) == 5
