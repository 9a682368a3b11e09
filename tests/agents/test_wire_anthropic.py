"""The loop against a scripted model speaking Anthropic's Messages API: its `tool_use` blocks run
as tools, and the results go back as `tool_result` blocks (the adapter translates; the loop
speaks one message shape)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import httpx
import pytest

from gureum.config import load_settings
from tests.agents.conftest import ScriptedModel
from tests.agents.tools import RAN
from tests.conftest import ADMIN_KEY
from tests.support.keys import make_key
from tests.support.servers import serve_app
from tests.support.wire.anthropic import AnthropicWire
from tests.support.wire.base import Call

TENANT = f"an{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def setup(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ScriptedModel, str, str]]:
    from gureum.app import create_app

    model = ScriptedModel(AnthropicWire())
    with serve_app(model.app) as url:
        settings = load_settings(
            use_file=False, data_dir=tmp_path_factory.mktemp("an"), database_url=database_url, admin_key=ADMIN_KEY,
            providers={"ant": {"kind": "anthropic", "base_url": url, "api_key": "sk-ant-test", "timeout": 5}},
            deployments=[{"name": "claude-test", "provider": "ant", "model": "claude-x", "region": "us",
                          "price": {"input": 1000.0, "output": 1000.0}}],
            agents=[{"name": "claw", "tenant": TENANT, "model": "claude-test", "tools": [{"name": "weather"}]},
                    {"name": "thrifty", "tenant": TENANT, "model": "claude-test",
                     "limits": {"max_cost_per_session": 0.04}}])
        with serve_app(create_app(settings)) as base:
            yield model, base, make_key(base, TENANT, "member", user="yun")


def test_anthropic_tool_use_runs_and_returns_a_tool_result(setup: tuple[ScriptedModel, str, str]) -> None:
    model, base, key = setup
    auth = {"authorization": f"Bearer {key}"}
    sid = httpx.post(f"{base}/v1/agents/claw/sessions", headers=auth, json={}, timeout=30).json()["id"]
    model.calls(Call("toolu_01", "weather", {"city": "Gwangju"}))
    model.say("Sunny in Gwangju.")
    r = httpx.post(f"{base}/v1/agents/claw/sessions/{sid}/messages", headers=auth, json={"content": "Gwangju?"},
                   timeout=30)
    assert r.status_code == 200 and r.json()["answer"] == "Sunny in Gwangju.", r.text
    assert ("yun", "Gwangju", "c") in RAN["weather"]
    first, second = model.requests[-2:]
    assert [t["name"] for t in first["tools"]] == ["weather"] and first["tools"][0]["input_schema"]["required"] == ["city"]
    blocks = [b for m in second["messages"] if isinstance(m["content"], list) for b in m["content"]]
    result = next(b for b in blocks if b["type"] == "tool_result")
    assert result["tool_use_id"] == "toolu_01" and "sunny" in json.dumps(result)


def test_a_session_cost_cap_stops_the_next_turn_before_its_model_call(setup: tuple[ScriptedModel, str, str],
                                                                       database_url: str) -> None:
    import psycopg

    model, base, key = setup
    auth = {"authorization": f"Bearer {key}"}
    sid = httpx.post(f"{base}/v1/agents/thrifty/sessions", headers=auth, json={}, timeout=30).json()["id"]
    model.say("one")  # 40 + 10 tokens at 1000 per 1M each: 0.05
    r = httpx.post(f"{base}/v1/agents/thrifty/sessions/{sid}/messages", headers=auth, json={"content": "a"}, timeout=30)
    step = next(e for e in r.json()["events"] if e["type"] == "step")
    assert r.json()["answer"] == "one" and abs(step["cost"] - 0.05) < 1e-9
    n = len(model.requests)
    r = httpx.post(f"{base}/v1/agents/thrifty/sessions/{sid}/messages", headers=auth, json={"content": "b"}, timeout=30)
    events = r.json()["events"]
    assert [e["type"] for e in events] == ["error", "done"] and events[0]["code"] == "max_cost_per_session"
    assert len(model.requests) == n  # refused before anything was sent
    with psycopg.connect(database_url) as conn:
        (ledger,) = conn.execute("SELECT sum(cost) FROM ledger WHERE request_id LIKE %s", (f"{sid}:%",)).fetchone() or (0,)
    assert abs(ledger - events[-1]["usage"]["session_cost"]) < 1e-9
