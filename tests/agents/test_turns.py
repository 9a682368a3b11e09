"""A turn of the tool-calling loop against a scripted model speaking OpenAI's wire format: the
model's tool call runs, its result goes back to the model, the answer comes out; every model
call is an `agent_step` of the governed flow as the session's user (ledger and audit), the
session lives in PostgreSQL, and another replica continues it."""

from __future__ import annotations

import json

import psycopg

from tests.agents.conftest import TENANT, Env
from tests.agents.tools import RAN
from tests.support.wire.base import Call


def test_a_turn_runs_the_tool_the_model_calls_and_answers(env: Env, database_url: str) -> None:
    sid = env.session(env.kim)
    env.model.calls(Call("call_w1", "weather", {"city": "Seoul"}))
    env.model.say("It is sunny in Seoul.")
    n = len(env.model.requests)
    r = env.say(env.kim, sid, "What is the weather in Seoul?")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [e["type"] for e in body["events"]] == ["step", "tool_call", "tool_result", "step", "answer", "done"]
    assert body["answer"] == "It is sunny in Seoul." and body["status"] == "idle"
    assert ("kim", "Seoul", "c") in RAN["weather"]
    first, second = env.model.requests[n:]
    offered = {t["function"]["name"]: t["function"]["parameters"] for t in first["tools"]}
    # The schema comes from the type hints; admin_report is granted to admins only.
    assert offered["weather"]["properties"]["unit"]["enum"] == ["c", "f"] and offered["weather"]["required"] == ["city"]
    assert "admin_report" not in offered and "fetch_page" in offered and "wipe_everything" not in offered
    assert first["messages"][0]["role"] == "system" and "errands" in first["messages"][0]["content"]
    tool_msg = [m for m in second["messages"] if m["role"] == "tool"]
    assert tool_msg[0]["tool_call_id"] == "call_w1" and json.loads(tool_msg[0]["content"])["sky"] == "sunny"
    assert body["usage"]["turn_tokens"] == 100  # two steps of 40 + 10 tokens
    with psycopg.connect(database_url) as conn:
        steps = conn.execute("SELECT user_id, origin, endpoint FROM ledger WHERE request_id LIKE %s",
                             (f"{sid}:%",)).fetchall()
        audit = conn.execute("SELECT action, decision, resource FROM audit_events WHERE tenant_id = %s AND "
                             "(detail->>'session' = %s OR request_id LIKE %s) ORDER BY seq",
                             (TENANT, sid, f"{sid}:%")).fetchall()
    assert steps == [("kim", "agent", "agent_step")] * 2
    actions = [(a, d) for a, d, _ in audit]
    assert actions == [("agent.agent_step", "allow"), ("agent.tool_call", "allow"), ("agent.tool_result", "allow"),
                       ("agent.agent_step", "allow")]


def test_another_replica_continues_the_session(env: Env) -> None:
    sid = env.session(env.kim)
    env.model.say("Noted: your name is Kim.")
    assert env.say(env.kim, sid, "My name is Kim.").status_code == 200
    env.model.say("You told me your name is Kim.")
    n = len(env.model.requests)
    r = env.say(env.kim, sid, "What is my name?", base=env.other)
    assert r.status_code == 200 and r.json()["answer"] == "You told me your name is Kim.", r.text
    sent = [m["content"] for m in env.model.requests[n]["messages"] if m["role"] != "system"]
    assert sent == ["My name is Kim.", "Noted: your name is Kim.", "What is my name?"]
    r = env.call("GET", f"/v1/agents/helper/sessions/{sid}", env.kim)
    assert r.status_code == 200 and r.json()["turns"] == 2 and len(r.json()["messages"]) == 4


def test_a_turn_streams_its_events(env: Env) -> None:
    import httpx

    sid = env.session(env.kim)
    env.model.calls(Call("call_s1", "weather", {"city": "Busan", "unit": "f"}))
    env.model.say("70F in Busan.")
    with httpx.stream("POST", f"{env.base}/v1/agents/helper/sessions/{sid}/messages", timeout=60,
                      headers={"authorization": f"Bearer {env.kim}"}, json={"content": "Busan?", "stream": True}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in r.iter_lines() if line]
    kinds = [line.removeprefix("event: ") for line in lines if line.startswith("event: ")]
    data = [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]
    assert kinds == ["step", "tool_call", "tool_result", "step", "answer", "done"] == [d["type"] for d in data]
    assert data[2]["content"] == json.dumps({"city": "Busan", "sky": "sunny", "temperature": 70}).replace(" ", "")


def test_sessions_list_and_delete(env: Env) -> None:
    sid = env.session(env.lee)
    listed = env.call("GET", "/v1/agents/helper/sessions", env.lee).json()["data"]
    assert sid in [s["id"] for s in listed] and all(s["agent"] == "helper" for s in listed)
    r = env.call("DELETE", f"/v1/agents/helper/sessions/{sid}", env.lee)
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert env.call("GET", f"/v1/agents/helper/sessions/{sid}", env.lee).status_code == 404
    assert env.call("POST", "/v1/agents/nobody/sessions", env.lee, {}).json()["error"]["code"] == "not_found"
