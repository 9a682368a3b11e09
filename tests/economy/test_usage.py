"""Usage and cost reports (API and CLI): grouping, tenant scoping, cache and routing savings shown
apart, projections against budgets, outcome labels feeding `gureum route train --from-ledger`,
and provider prompt-cache tokens billed at the discounted price."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from typer.testing import CliRunner

from gureum.config import DeploymentSettings, Price
from gureum.providers.base import Usage
from gureum.routing.breaker import CircuitBreaker
from gureum.routing.catalog import Deployment
from tests.conftest import ADMIN_KEY, gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import make_key
from tests.support.servers import serve_app

DEPLOYMENTS = [
    {"name": "mini", "provider": "fake", "model": "mini-model", "tier": 1, "region": "us",
     "price": {"input": 0.15, "output": 0.60}},
    {"name": "strong", "provider": "fake", "model": "strong-model", "tier": 5, "region": "us",
     "price": {"input": 5.0, "output": 15.0}},
]
GOVERNANCE = {"tenants": {"shop": {"budgets": [{"scope": "tenant", "period": "month", "limit": 100.0, "mode": "soft"}]}}}


@pytest.fixture(scope="module")
def env(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    settings = gateway_settings(
        database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("usage"), deployments=DEPLOYMENTS,
        virtual_models={"auto": {"candidates": ["strong", "mini"], "strategy": "cost"}}, governance=GOVERNANCE,
        cache={"semantic": False},
    )
    with serve_app(create_app(settings)) as base:
        keys = {t: _key(base, t, f"user-{t}") for t in ("shop", "bank")}
        keys["root"] = ADMIN_KEY
        for tenant in ("shop", "bank"):
            for i in range(3):
                _chat(base, keys[tenant], f"{tenant} question {i}", temperature=0)
            _chat(base, keys[tenant], f"{tenant} question 0", temperature=0)  # an exact cache hit
            _chat(base, keys[tenant], f"{tenant} explicit", model="strong")
        yield {"base": base, "keys": keys, "settings": settings}


def _key(base: str, tenant: str, user: str) -> str:
    return make_key(base, tenant, user=user)


def _chat(base: str, key: str, content: str, model: str = "auto", **extra: Any) -> httpx.Response:
    r = httpx.post(f"{base}/v1/chat/completions", timeout=60,
                   headers={"authorization": f"Bearer {key}", "x-request-id": "req_" + uuid.uuid4().hex},
                   json={"model": model, "messages": [{"role": "user", "content": content}], **extra})
    assert r.status_code == 200, r.text
    return r


def _usage(env: dict[str, Any], who: str, **params: str) -> httpx.Response:
    return httpx.get(f"{env['base']}/v1/usage", params=params, timeout=60,
                     headers={"authorization": f"Bearer {env['keys'][who]}"})


def test_grouped_usage_with_savings_shown_apart(env: dict[str, Any]) -> None:
    r = _usage(env, "root", group_by="tenant,model")
    assert r.status_code == 200, r.text
    rows = {(x["tenant"], x["model"]): x for x in r.json()["data"]}
    auto = rows[("shop", "auto")]
    assert auto["requests"] == 4 and auto["cache_hits"] == 1
    assert auto["cache_saved"] > 0  # the hit: what the stored answer had cost
    assert auto["routing_saved"] > 0  # mini instead of strong for the three fresh questions
    assert rows[("shop", "strong")]["routing_saved"] == 0  # no auto, no routing savings
    assert rows[("shop", "strong")]["cost"] > auto["cost"]
    totals = r.json()["totals"]
    assert totals["requests"] >= 10 and totals["cost"] == pytest.approx(sum(x["cost"] for x in r.json()["data"]))


def test_members_see_their_own_tenant_only(env: dict[str, Any]) -> None:
    r = _usage(env, "shop", group_by="tenant,user,key")
    assert r.status_code == 200
    assert {x["tenant"] for x in r.json()["data"]} == {"shop"}
    assert {x["user"] for x in r.json()["data"]} == {"user-shop"}
    assert _usage(env, "shop", tenant_id="bank").status_code == 403
    r = _usage(env, "root", tenant_id="bank", group_by="tenant")
    assert [x["tenant"] for x in r.json()["data"]] == ["bank"]
    assert _usage(env, "shop", group_by="colour").status_code == 400


def test_days_and_time_windows(env: dict[str, Any]) -> None:
    today = time.strftime("%Y-%m-%d", time.gmtime())
    rows = _usage(env, "shop", group_by="day,deployment").json()["data"]
    assert {x["day"] for x in rows} == {today}
    assert {x["deployment"] for x in rows} >= {"mini@fake", "strong@fake", None}  # None: the cache hit
    assert _usage(env, "shop", since="2999-01-01T00:00:00Z").json()["data"] == []


def test_projection_against_the_month_budget(env: dict[str, Any]) -> None:
    proj = _usage(env, "shop").json()["projections"]
    assert len(proj) == 1 and proj[0]["tenant"] == "shop"
    p = proj[0]
    assert p["month_to_date"] > 0 and p["projected_month_end"] >= p["month_to_date"]
    assert p["budgets"] == [{
        "period": "month", "limit": 100.0, "mode": "soft", "compared": "projected month total",
        "value": p["projected_month_end"], "ratio": pytest.approx(p["projected_month_end"] / 100, abs=1e-4),
        "over": False,
    }]
    assert _usage(env, "bank").json()["projections"][0]["budgets"] == []


def test_cli_formats(env: dict[str, Any], database_url: str, tmp_path: Path) -> None:
    from gureum.cli import app

    runner = CliRunner()
    envvars = {"GUREUM_DATABASE_URL": database_url, "GUREUM_GOVERNANCE": json.dumps(GOVERNANCE), "COLUMNS": "250"}
    common = ["--data-dir", str(tmp_path)]
    r = runner.invoke(app, ["usage", "--group-by", "tenant,model", "--format", "json", *common], env=envvars)
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert {(x["tenant"], x["model"]) for x in doc["data"]} >= {("shop", "auto"), ("bank", "strong")}
    r = runner.invoke(app, ["usage", "-g", "model", "--tenant", "bank", "-f", "csv", *common], env=envvars)
    lines = r.output.strip().splitlines()
    assert lines[0].startswith("model,requests,errors,input_tokens")
    assert {line.split(",")[0] for line in lines[1:]} == {"auto", "strong"}
    r = runner.invoke(app, ["usage", "--tenant", "shop", *common], env=envvars)
    assert r.exit_code == 0 and "projected month end" in r.output and "month budget 100.00" in r.output
    r = runner.invoke(app, ["usage", "--group-by", "colour", *common], env=envvars)
    assert r.exit_code == 2


def test_outcome_labels_train_the_router(env: dict[str, Any], database_url: str, tmp_path: Path) -> None:
    from gureum.cli import app

    key = env["keys"]["shop"]
    for i in range(12):
        r = _chat(env["base"], key, f"Label me {i}" + (" ```py\nx=1\n```" if i % 2 else ""))
        outcome = "bad" if i % 2 else "good"
        res = httpx.post(f"{env['base']}/v1/usage/outcomes", headers={"authorization": f"Bearer {key}"}, timeout=60,
                         json={"request_id": r.headers["x-request-id"], "outcome": outcome})
        assert res.status_code == 200, res.text
    # another tenant cannot label shop's requests
    res = httpx.post(f"{env['base']}/v1/usage/outcomes", timeout=60,
                     headers={"authorization": f"Bearer {env['keys']['bank']}"},
                     json={"request_id": r.headers["x-request-id"], "outcome": "good"})
    assert res.status_code == 404
    out = tmp_path / "w.json"
    r2 = CliRunner().invoke(app, ["route", "train", "--from-ledger", "--out", str(out), "--data-dir", str(tmp_path)],
                            env={"GUREUM_DATABASE_URL": database_url})
    assert r2.exit_code == 0, r2.output
    assert "trained on 12 samples" in r2.output
    assert json.loads(out.read_text())["kind"] == "ordinal-logistic"


# --- provider prompt caching --------------------------------------------------------------------

def test_cached_input_tokens_are_billed_at_the_discount() -> None:
    ds = DeploymentSettings(name="c", provider="p", model="m",
                            price=Price(input=3.0, output=15.0, cached_input=0.3, cache_write=3.75))
    dep = Deployment(ds, object(), CircuitBreaker(5, 30))  # type: ignore[arg-type]
    full = dep.cost(Usage(prompt_tokens=10_000, completion_tokens=1_000))
    cached = dep.cost(Usage(prompt_tokens=10_000, completion_tokens=1_000, cached_tokens=8_000))
    written = dep.cost(Usage(prompt_tokens=10_000, completion_tokens=1_000, cache_write_tokens=8_000))
    assert full == pytest.approx((10_000 * 3.0 + 1_000 * 15.0) / 1e6)
    assert cached == pytest.approx((2_000 * 3.0 + 8_000 * 0.3 + 1_000 * 15.0) / 1e6)
    assert written == pytest.approx((2_000 * 3.0 + 8_000 * 3.75 + 1_000 * 15.0) / 1e6)


def test_the_ledger_bills_provider_cached_tokens_at_the_discount(database_url: str, tmp_path: Path) -> None:
    from gureum.app import create_app

    async def chat(request: Request) -> JSONResponse:
        return JSONResponse({
            "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10_000, "completion_tokens": 100, "total_tokens": 10_100,
                      "prompt_tokens_details": {"cached_tokens": 9_000}},
        })

    deployments = [{"name": "cached", "provider": "up", "model": "m", "region": "us",
                    "price": {"input": 2.0, "output": 8.0, "cached_input": 0.5}}]
    with serve_app(Starlette(routes=[Route("/v1/chat/completions", chat, methods=["POST"])])) as up:
        settings = gateway_settings(database_url, {"up": up}, tmp_path, deployments=deployments)
        with serve_app(create_app(settings)) as base:
            r = httpx.post(f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=60,
                           json={"model": "cached", "messages": [{"role": "user", "content": "long prompt"}]})
            assert r.status_code == 200, r.text
            rid = r.headers["x-request-id"]
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT cost, cached_tokens FROM ledger WHERE request_id = %s", (rid,)).fetchone()
    assert row is not None
    assert row[1] == 9_000
    assert row[0] == pytest.approx((1_000 * 2.0 + 9_000 * 0.5 + 100 * 8.0) / 1e6)
