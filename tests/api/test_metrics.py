"""`/metrics` scraped after real requests through a running gureum (fake OpenAI-wire upstream):
request counts and latency by endpoint, model, deployment and status; the GenAI token and
duration histograms; cache hits; refusals; circuit states. Values are compared as differences
of two scrapes, since the registry is the process's."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import make_key
from tests.support.servers import serve_app

TENANT = f"m{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def env(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    fake, url = upstream
    settings = gateway_settings(database_url, {"fake": url}, tmp_path_factory.mktemp("metrics"),
                                routing={"breaker_failures": 1, "breaker_cooldown": 600, "retries": 0}, cache={"semantic": False},
                                governance={"tenants": {TENANT: {"allowed_models": ["gpt-test"]}}})
    with serve_app(create_app(settings)) as base:
        yield {"base": base, "fake": fake, "key": make_key(base, TENANT, user="u1")}


def scrape(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    text = httpx.get(f"{base}/metrics", timeout=30).text
    return {(s.name, frozenset(s.labels.items())): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def value(m: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    want = set(labels.items())
    return sum(v for (n, ls), v in m.items() if n == name and want <= ls)


def chat(env: dict[str, Any], content: str, model: str = "gpt-test", **extra: object) -> httpx.Response:
    return httpx.post(f"{env['base']}/v1/chat/completions", headers={"authorization": f"Bearer {env['key']}"},
                      json={"model": model, "messages": [{"role": "user", "content": content}], **extra}, timeout=60)


def test_requests_latency_tokens_and_cost(env: dict[str, Any]) -> None:
    before = scrape(env["base"])
    replies = [chat(env, f"metrics {uuid.uuid4().hex}") for _ in range(3)]
    assert all(r.status_code == 200 for r in replies)
    after = scrape(env["base"])
    labels = {"endpoint": "chat", "model": "gpt-test", "status": "200"}
    d = lambda name, **ls: value(after, name, **ls) - value(before, name, **ls)  # noqa: E731
    assert d("gureum_requests_total", deployment="gpt-test@fake", **labels) == 3
    assert d("gureum_request_seconds_count", **labels) == 3
    prompt = sum(r.json()["usage"]["prompt_tokens"] for r in replies)
    completion = sum(r.json()["usage"]["completion_tokens"] for r in replies)
    assert d("gureum_tokens_total", model="gpt-test", direction="input") == prompt
    genai = {"gen_ai_operation_name": "chat", "gen_ai_request_model": "gpt-test", "gen_ai_provider_name": "fake"}
    assert d("gen_ai_client_token_usage_sum", gen_ai_token_type="input", **genai) == prompt
    assert d("gen_ai_client_token_usage_sum", gen_ai_token_type="output", **genai) == completion
    assert d("gen_ai_client_token_usage_count", gen_ai_token_type="input", **genai) == 3
    assert d("gen_ai_client_operation_duration_seconds_count", error_type="", **genai) == 3
    assert d("gen_ai_client_operation_duration_seconds_sum", **genai) > 0
    cost = (prompt * 1.0 + completion * 2.0) / 1_000_000
    assert d("gureum_cost_total", tenant=TENANT, model="gpt-test") == pytest.approx(cost, rel=1e-6)
    # No label carries a request, user or key id.
    ids = {r.headers["x-request-id"] for r in replies} | {"u1", env["key"]}
    assert not any(v in ids for (_, ls) in after for _, v in ls)


def test_cache_hits_and_refusals(env: dict[str, Any]) -> None:
    before = scrape(env["base"])
    content = f"cache me {uuid.uuid4().hex}"
    assert chat(env, content, temperature=0).status_code == 200
    assert chat(env, content, temperature=0).headers.get("x-gureum-cache") == "exact"
    assert chat(env, "x", model="emb-test").status_code == 403  # not on the tenant's allow-list
    after = scrape(env["base"])
    assert value(after, "gureum_cache_hits_total", kind="exact", endpoint="chat") - \
        value(before, "gureum_cache_hits_total", kind="exact", endpoint="chat") == 1
    assert value(after, "gureum_refusals_total", reason="policy_blocked") + \
        value(after, "gureum_refusals_total", reason="permission_denied") - \
        value(before, "gureum_refusals_total", reason="policy_blocked") - \
        value(before, "gureum_refusals_total", reason="permission_denied") == 1


def test_circuit_state_and_in_flight(env: dict[str, Any]) -> None:
    m = scrape(env["base"])
    assert value(m, "gureum_deployment_circuit_state", deployment="gpt-test@fake", state="closed") == 1
    assert value(m, "gureum_deployment_in_flight_calls", deployment="gpt-test@fake") == 0
    assert value(m, "gureum_in_flight_requests") >= 1  # the scrape itself
    env["fake"].script("error:500", "error:500", "error:500")
    assert chat(env, f"fail {uuid.uuid4().hex}").status_code >= 500
    m = scrape(env["base"])
    assert value(m, "gureum_deployment_circuit_state", deployment="gpt-test@fake", state="open") == 1
    assert value(m, "gureum_deployment_circuit_state", deployment="gpt-test@fake", state="closed") == 0
    env["fake"].actions.clear()


def test_metrics_token_closes_the_endpoint(database_url: str, upstream: tuple[FakeOpenAI, str],
                                           tmp_path_factory: pytest.TempPathFactory) -> None:
    from gureum.app import create_app

    _, url = upstream
    settings = gateway_settings(database_url, {"fake": url}, tmp_path_factory.mktemp("metrics-token"),
                                metrics={"token": "scrape-secret"})
    with serve_app(create_app(settings)) as base:
        for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": "scrape-secret"}):
            r = httpx.get(f"{base}/metrics", headers=headers, timeout=30)
            assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
            assert "gureum_" not in r.text
        r = httpx.get(f"{base}/metrics", headers={"authorization": "Bearer scrape-secret"}, timeout=30)
        assert r.status_code == 200 and "gureum_in_flight_requests" in r.text
