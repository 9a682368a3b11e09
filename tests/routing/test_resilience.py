"""Fallbacks, retries, timeouts, circuit breakers and load balancing — against real HTTP
upstreams that fail in the ways providers do (5xx, 429, hangs, resets, garbage)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import psycopg
import pytest

from tests.conftest import ADMIN_KEY
from tests.support.fake_openai import FakeOpenAI
from tests.support.raw import resetting_server
from tests.support.servers import serve_app


HA = ("ha-5xx", "ha-429", "ha-400", "ha-hang", "ha-stream")
SOLO = ("solo-retry", "solo-429", "solo-hang", "solo-garbage", "solo-breaker", "solo-stall")


@pytest.fixture(scope="module")
def env(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app
    from gureum.config import load_settings

    primary, backup = FakeOpenAI(reply="from primary", name="primary"), FakeOpenAI(reply="from backup", name="backup")
    with serve_app(primary.app) as p_url, serve_app(backup.app) as b_url, resetting_server() as r_url:
        def prov(url: str, timeout: float = 1.0) -> dict[str, Any]:
            return {"kind": "openai", "base_url": f"{url}/v1", "api_key": "sk-x", "timeout": timeout}

        def dep(name: str, provider: str) -> dict[str, Any]:
            return {"name": name, "provider": provider, "model": f"{provider}-m", "price": {"input": 1, "output": 2}}

        settings = load_settings(
            use_file=False, data_dir=tmp_path_factory.mktemp("gw"), database_url=database_url, admin_key=ADMIN_KEY,
            providers={"primary": prov(p_url), "backup": prov(b_url), "reset": prov(r_url),
                       "primary_long": prov(p_url, 30.0)},
            # Breakers keep state across requests, so each test gets its own model names.
            deployments=[
                *(dep(name, "primary") for name in (*HA, *SOLO)),
                dep("gpt-backup", "backup"), dep("gpt-reset", "reset"), dep("gpt-lb", "primary"),
                dep("gpt-lb", "backup"), dep("gpt-long", "primary_long"),
            ],
            virtual_models={"smart": {"candidates": ["gpt-reset", "gpt-backup"]}},
            routing={"retries": 1, "backoff_base": 0.01, "breaker_failures": 2, "breaker_cooldown": 1.0,
                     "fallbacks": {name: ["gpt-backup"] for name in HA}},
        )
        with serve_app(create_app(settings)) as base:
            yield {"base": base, "primary": primary, "backup": backup, "db": database_url}
    primary.actions.clear()


def _client(env: dict[str, Any]) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{env['base']}/v1", api_key=ADMIN_KEY, max_retries=0, timeout=20)


def _chat(env: dict[str, Any], model: str, **kw: Any) -> Any:
    return _client(env).chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": "hi"}], **kw
    )


def test_retry_on_same_deployment(env: dict[str, Any]) -> None:
    primary: FakeOpenAI = env["primary"]
    before = len(primary.requests)
    primary.script("error:503")
    resp = _chat(env, "solo-retry")
    assert resp.parse().choices[0].message.content == "from primary"
    assert len(primary.requests) - before == 2


def test_fallback_on_5xx_is_explained(env: dict[str, Any]) -> None:
    env["primary"].script("error:500", "error:500")
    resp = _chat(env, "ha-5xx")
    assert resp.parse().choices[0].message.content == "from backup"
    assert resp.headers["x-gureum-deployment"] == "gpt-backup@backup"
    assert "fallback" in resp.headers["x-gureum-route"]
    rid = resp.headers["x-request-id"]
    time.sleep(0.2)
    with psycopg.connect(env["db"]) as conn:
        deployment, route = conn.execute("SELECT deployment, route FROM ledger WHERE request_id = %s", (rid,)).fetchone()
    assert deployment == "gpt-backup@backup"
    assert [a["deployment"] for a in route["attempts"]] == ["ha-5xx@primary", "ha-5xx@primary", "gpt-backup@backup"]


def test_fallback_on_429_and_429_when_alone(env: dict[str, Any]) -> None:
    env["primary"].script("error:429", "error:429")
    assert _chat(env, "ha-429").parse().choices[0].message.content == "from backup"
    env["primary"].script("error:429", "error:429")
    with pytest.raises(openai.RateLimitError):
        _chat(env, "solo-429")


def test_client_errors_are_not_retried(env: dict[str, Any]) -> None:
    primary: FakeOpenAI = env["primary"]
    before = len(primary.requests)
    primary.script("error:400")
    with pytest.raises(openai.BadRequestError):
        _chat(env, "ha-400")
    assert len(primary.requests) - before == 1
    assert not env["primary"].actions


def test_hang_times_out_then_falls_back(env: dict[str, Any]) -> None:
    env["primary"].script("hang", "hang")
    t = time.monotonic()
    assert _chat(env, "ha-hang").parse().choices[0].message.content == "from backup"
    assert time.monotonic() - t < 5


def test_hang_without_fallback_is_a_504_within_the_timeout(env: dict[str, Any]) -> None:
    env["primary"].script("hang", "hang")
    t = time.monotonic()
    with pytest.raises(openai.APIStatusError) as exc:
        _chat(env, "solo-hang")
    assert exc.value.status_code == 504
    assert time.monotonic() - t < 5


def test_reset_connection_falls_back(env: dict[str, Any]) -> None:
    resp = _chat(env, "smart")
    assert resp.parse().choices[0].message.content == "from backup"


def test_garbage_is_a_502(env: dict[str, Any]) -> None:
    env["primary"].script("garbage", "garbage")
    with pytest.raises(openai.APIStatusError) as exc:
        _chat(env, "solo-garbage")
    assert exc.value.status_code == 502
    assert "not JSON" in exc.value.message


def test_circuit_breaker_opens_and_closes(env: dict[str, Any]) -> None:
    primary: FakeOpenAI = env["primary"]
    primary.script("error:500", "error:500")
    with pytest.raises(openai.APIStatusError):
        _chat(env, "solo-breaker")
    seen = len(primary.requests)
    with pytest.raises(openai.APIStatusError) as exc:
        _chat(env, "solo-breaker")
    assert exc.value.status_code == 503 and "circuit open" in exc.value.message
    assert len(primary.requests) == seen, "an open circuit must not reach the provider"
    time.sleep(1.1)
    assert _chat(env, "solo-breaker").parse().choices[0].message.content == "from primary"
    assert _chat(env, "solo-breaker").parse().choices[0].message.content == "from primary"


def test_load_balancing_uses_every_deployment(env: dict[str, Any]) -> None:
    seen = {_chat(env, "gpt-lb").headers["x-gureum-deployment"] for _ in range(30)}
    assert seen == {"gpt-lb@primary", "gpt-lb@backup"}


def test_stream_falls_back_before_first_chunk(env: dict[str, Any]) -> None:
    env["primary"].script("error:502", "error:502")
    stream = _client(env).chat.completions.create(
        model="ha-stream", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "from backup"


def test_stall_mid_stream_ends_with_an_error_event(env: dict[str, Any]) -> None:
    env["primary"].script("stall_mid_stream")
    stream = _client(env).chat.completions.create(
        model="solo-stall", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    t = time.monotonic()
    with pytest.raises(openai.APIError):
        for _ in stream:
            pass
    assert time.monotonic() - t < 5


def test_client_disconnect_cancels_upstream(env: dict[str, Any]) -> None:
    primary: FakeOpenAI = env["primary"]
    before = primary.cancelled
    primary.script("stall_mid_stream")
    with httpx.Client(timeout=10) as http, http.stream(
        "POST", f"{env['base']}/v1/chat/completions", headers={"authorization": f"Bearer {ADMIN_KEY}"},
        json={"model": "gpt-long", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    ) as r:
        next(r.iter_lines())
    deadline = time.monotonic() + 5
    while primary.cancelled == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert primary.cancelled == before + 1


def test_shutdown_drains_in_flight_requests(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from gureum.app import create_app
    from tests.conftest import gateway_settings

    slow = FakeOpenAI(reply="finished")
    slow.default = "slow:1.0"
    results: list[int] = []
    with serve_app(slow.app) as url:
        settings = gateway_settings(database_url, {"slow": url}, tmp_path_factory.mktemp("drain"))
        with serve_app(create_app(settings)) as base:
            def call() -> None:
                r = httpx.post(f"{base}/v1/chat/completions", headers={"authorization": f"Bearer {ADMIN_KEY}"},
                               json={"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]}, timeout=10)
                results.append(r.status_code)

            t = threading.Thread(target=call)
            t.start()
            time.sleep(0.3)
        t.join(10)
    assert results == [200]
