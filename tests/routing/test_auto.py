"""Cost-aware `auto` routing: the cheapest deployment meeting the request's tier wins, budget
pressure lowers the tier, a latency objective demotes slow deployments, residency and allow-list
filters run first, and every decision is explained (header, ledger route JSON)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest

from gureum.config import load_settings
from gureum.economy.settings import EconomySettings
from gureum.routing.auto import AutoRoute, LatencyTracker
from gureum.routing.catalog import Catalog, Plan
from tests.conftest import ADMIN_KEY, gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import make_key
from tests.support.servers import serve_app

TIERS = [  # name, tier, $/1M input, $/1M output, region
    ("mini", 1, 0.15, 0.60, "us"),
    ("mid", 3, 1.00, 4.00, "us"),
    ("mid-kr", 3, 1.20, 4.50, "kr"),
    ("strong", 5, 5.00, 15.00, "us"),
]
FAQ = "What are your opening hours?"
CODE = "Fix this Python function:\n```python\ndef add(a, b):\n    return a - b\n```"
PROOF = "Prove that the square root of 2 is irrational."


def deployments(provider: str = "fake") -> list[dict[str, Any]]:
    return [{"name": n, "provider": provider, "model": f"{n}-model", "tier": t, "region": r,
             "price": {"input": i, "output": o}} for n, t, i, o, r in TIERS]


VIRTUAL = {"auto": {"candidates": ["strong", "mid", "mid-kr", "mini"], "strategy": "cost"},
           "smart": {"candidates": ["strong", "mid"]}}


# --- the filter on its own ---------------------------------------------------------------------

@pytest.fixture()
def catalog() -> Catalog:
    s = load_settings(use_file=False, providers={"fake": {"kind": "openai", "base_url": "http://127.0.0.1:9"}},
                      deployments=deployments(), virtual_models=VIRTUAL)
    return Catalog(s, {"fake": object()})  # type: ignore[dict-item]


@dataclass
class Call:
    """What `AutoRoute.order` reads of a call, and the route notes it writes."""

    body: dict[str, Any]
    stream: bool = False
    pressure: float = 0.0
    route: dict[str, Any] = field(default_factory=dict)

    def order(self, auto: AutoRoute, plan: Plan) -> Plan:
        return auto.order(plan, self.body, self.stream, self.pressure, self.route)


def ctx_for(content: str, pressure: float = 0.0, **body: Any) -> Call:
    return Call({"model": "auto", "messages": [{"role": "user", "content": content}], **body},
                stream=bool(body.get("stream")), pressure=pressure)


def route(catalog: Catalog, ctx: Call, economy: dict[str, Any] | None = None,
          latency: LatencyTracker | None = None) -> list[list[str]]:
    auto = AutoRoute(EconomySettings(**(economy or {})), latency=latency)
    plan = ctx.order(auto, catalog.plan("auto"))
    return [[d.id for d in g] for g in plan.groups]


def test_cheapest_qualifying_first_then_fallbacks(catalog: Catalog) -> None:
    ctx = ctx_for(CODE)
    groups = route(catalog, ctx)
    assert groups == [["mid@fake"], ["mid-kr@fake"], ["strong@fake"], ["mini@fake"]]
    auto = ctx.route["auto"]
    assert auto["required_tier"] == 3 and "contains code" in auto["reasons"]
    assert auto["winner"] == "mid@fake" and auto["strongest"] == "strong@fake"
    verdicts = {c["id"]: c["verdict"] for c in auto["candidates"]}
    assert verdicts["mini@fake"].startswith("tier 1 < required 3")
    costs = {c["id"]: c["est_cost"] for c in auto["candidates"]}
    assert costs["mid@fake"] < costs["mid-kr@fake"] < costs["strong@fake"]
    assert ctx.route["reason"].startswith("auto: tier>=3 (contains code)")


def test_simple_and_hard_requests(catalog: Catalog) -> None:
    assert route(catalog, ctx_for(FAQ))[0] == ["mini@fake"]
    assert route(catalog, ctx_for(PROOF))[0] == ["strong@fake"]


def test_budget_pressure_lowers_the_tier(catalog: Catalog) -> None:
    assert route(catalog, ctx_for(CODE, pressure=0.5))[0] == ["mid@fake"]
    ctx = ctx_for(CODE, pressure=0.85)
    assert route(catalog, ctx)[0] == ["mid@fake"]  # tier 3 - 1 = 2: mini (tier 1) still does not qualify
    assert ctx.route["auto"]["required_tier"] == 2 and ctx.route["auto"]["tier_drop"] == 1
    assert route(catalog, ctx_for(CODE, pressure=1.0))[0] == ["mini@fake"]  # 3 - 2 = 1
    ctx = ctx_for(PROOF, pressure=1.0)
    route(catalog, ctx)
    assert ctx.route["auto"]["required_tier"] == 2 and ctx.route["auto"]["winner"] == "mid@fake"
    rules = {"auto": {"budget_pressure": [{"at": 0.5, "drop": 4}]}}
    assert route(catalog, ctx_for(PROOF, pressure=0.6), rules)[0] == ["mini@fake"]


def test_latency_objective_demotes_slow_deployments(catalog: Catalog) -> None:
    latency = LatencyTracker(window=50, min_samples=3)
    for _ in range(5):
        latency.observe("mid@fake", "full", 2500.0)
        latency.observe("mid-kr@fake", "full", 300.0)
    economy = {"virtual_models": {"auto": {"max_p50_ms": 1000}}}
    ctx = ctx_for(CODE)
    groups = route(catalog, ctx, economy, latency)
    assert groups[0] == ["mid-kr@fake"] and groups.index(["mid@fake"]) > groups.index(["strong@fake"])
    slow = next(c for c in ctx.route["auto"]["candidates"] if c["id"] == "mid@fake")
    assert slow["p50_ms"] == 2500.0 and "latency objective" in slow["verdict"]
    # streams are measured separately (first chunk), so they are not affected
    assert route(catalog, ctx_for(CODE, stream=True), economy, latency)[0] == ["mid@fake"]


def test_no_deployment_meets_the_tier(catalog: Catalog) -> None:
    ctx = ctx_for(PROOF)
    plan = ctx.order(AutoRoute(EconomySettings()), catalog.plan("auto").filtered(lambda d: d.tier < 5))
    assert [g[0].id for g in plan.groups] == ["mid@fake", "mid-kr@fake", "mini@fake"]
    assert "no deployment reaches tier 4" in ctx.route["auto"]["why"]


def test_ordered_virtual_models_are_left_alone(catalog: Catalog) -> None:
    ctx = Call({"messages": [{"role": "user", "content": FAQ}]})
    plan = ctx.order(AutoRoute(EconomySettings()), catalog.plan("smart"))
    assert [g[0].id for g in plan.groups] == ["strong@fake", "mid@fake"] and "auto" not in ctx.route


def test_a_learned_model_can_replace_the_heuristic(catalog: Catalog, tmp_path: Any) -> None:
    from gureum.routing.difficulty import FEATURES, LogisticEstimator

    # a model that sends everything mentioning code to tier 5
    w = [[0.0] * len(FEATURES) for _ in range(4)]
    for row in w:
        row[FEATURES.index("code_block")] = 10.0
    LogisticEstimator(w, [-5.0] * 4).save(tmp_path / "m.json")
    estimator = LogisticEstimator.load(tmp_path / "m.json")
    ctx = ctx_for(CODE)
    plan = ctx.order(AutoRoute(EconomySettings(), estimator), catalog.plan("auto"))
    assert plan.groups[0][0].id == "strong@fake"
    assert ctx.route["auto"]["estimator"] == "model:m.json"


# --- through a running gureum ------------------------------------------------------------------

@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app

    governance = {
        "tenants": {
            "tight": {"budgets": [{"scope": "tenant", "period": "day", "limit": 0, "mode": "soft"}]},
            "kronly": {"residency": ["kr-only"]},
        }
    }
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("auto"),
                                deployments=deployments(), virtual_models=VIRTUAL, governance=governance)
    with serve_app(create_app(settings)) as base:
        yield base


def ask(base: str, content: str, key: str = ADMIN_KEY) -> httpx.Response:
    r = httpx.post(f"{base}/v1/chat/completions", timeout=60,
                   headers={"authorization": f"Bearer {key}", "x-request-id": "req_" + uuid.uuid4().hex},
                   json={"model": "auto", "messages": [{"role": "user", "content": content}]})
    assert r.status_code == 200, r.text
    return r


def member(base: str, tenant: str) -> str:
    return make_key(base, tenant, user=f"u-{tenant}")


def test_served_by_the_cheapest_qualifying_tier(gw: str, upstream: tuple[FakeOpenAI, str], database_url: str) -> None:
    fake = upstream[0]
    for content, model in ((FAQ, "mini-model"), (CODE, "mid-model"), (PROOF, "strong-model")):
        r = ask(gw, content)
        assert fake.requests[-1]["model"] == model
        assert r.headers["x-gureum-route"].startswith("auto: tier>=")
        assert r.json()["model"] == "auto"
    with psycopg.connect(database_url) as conn:
        route = conn.execute("SELECT route FROM ledger WHERE request_id = %s", (r.headers["x-request-id"],)).fetchone()
    assert route is not None
    auto = route[0]["auto"]
    assert auto["required_tier"] == 4 and auto["winner"] == "strong@fake"
    assert {c["id"] for c in auto["candidates"]} == {"mini@fake", "mid@fake", "mid-kr@fake", "strong@fake"}
    assert route[0]["saved_vs_strongest"] == 0  # the strongest served it


def test_savings_against_the_strongest_are_recorded(gw: str, database_url: str) -> None:
    r = ask(gw, "Where is your store?")
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT cost, route FROM ledger WHERE request_id = %s", (r.headers["x-request-id"],)).fetchone()
    assert row is not None
    cost, route = row
    assert route["deployment"] == "mini@fake"
    assert route["saved_vs_strongest"] == pytest.approx(route["strongest_cost"] - cost)
    assert route["saved_vs_strongest"] > 0


def test_budget_pressure_from_the_budget_stage(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    key = member(gw, "tight")  # a soft budget of 0: pressure 1.0
    r = ask(gw, CODE, key)
    assert upstream[0].requests[-1]["model"] == "mini-model"
    assert "budget pressure 1.00" in r.headers["x-gureum-route"]


def test_residency_filters_run_before_cost(gw: str, upstream: tuple[FakeOpenAI, str], database_url: str) -> None:
    r = ask(gw, CODE, member(gw, "kronly"))
    assert upstream[0].requests[-1]["model"] == "mid-kr-model"
    with psycopg.connect(database_url) as conn:
        route = conn.execute("SELECT route FROM ledger WHERE request_id = %s", (r.headers["x-request-id"],)).fetchone()
    assert route is not None
    assert [c["id"] for c in route[0]["auto"]["candidates"]] == ["mid-kr@fake"]


def test_fallback_when_the_cheapest_fails(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    fake.script("error:500", "error:500")  # the mini deployment fails twice (one retry)
    r = ask(gw, "Do you deliver on Sundays?")
    assert fake.requests[-1]["model"] == "mid-model"
    assert r.headers["x-gureum-route"].startswith("fallback after mini@fake")
