"""Every route to a tool or data the user may not reach fails, and is audited: a tool granted to
another role, a tool the agent does not have, another user's session, another tenant's agent,
and an instruction injected in a tool output that tries to grant a tool."""

from __future__ import annotations

import psycopg

from tests.agents.conftest import TENANT, Env
from tests.agents.tools import RAN
from tests.support.keys import make_key
from tests.support.wire.base import Call


def _denials(database_url: str, sid: str) -> list[tuple[str, str]]:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT action, resource FROM audit_events WHERE detail->>'session' = %s "
                            "AND decision = 'deny' ORDER BY seq", (sid,)).fetchall()


def test_a_tool_not_granted_is_refused_even_when_the_model_calls_it(env: Env, database_url: str) -> None:
    sid = env.session(env.lee)
    env.model.calls(Call("c1", "admin_report", {}), Call("c2", "wipe_everything", {}),
                    Call("c3", "fetch_page", {"url": "http://x"}))
    env.model.say("I cannot do that.")
    n = len(env.model.requests)
    r = env.say(env.lee, sid, "Run the admin report and wipe everything.")
    assert r.status_code == 200, r.text
    results = [e for e in r.json()["events"] if e["type"] == "tool_result"]
    assert [(e["tool"], e["status"]) for e in results] == [("admin_report", "refused"), ("wipe_everything", "refused"),
                                                           ("fetch_page", "refused")]
    assert RAN["wipe"] == []
    offered = {t["function"]["name"] for t in env.model.requests[n]["tools"]}
    assert not offered & {"admin_report", "wipe_everything", "fetch_page"}  # lee is no admin, not in group web
    assert _denials(database_url, sid) == [("agent.tool_call", "tool:admin_report"),
                                           ("agent.tool_call", "tool:wipe_everything"),
                                           ("agent.tool_call", "tool:fetch_page")]


def test_the_admin_gets_the_admin_tool(env: Env) -> None:
    sid = env.session(env.admin)
    env.model.calls(Call("c1", "admin_report", {}))
    env.model.say("Here is the report.")
    r = env.say(env.admin, sid, "report please")
    result = next(e for e in r.json()["events"] if e["type"] == "tool_result")
    assert result["status"] == "ok" and result["content"] == "report for boss"


def test_injected_instructions_in_a_tool_output_cannot_grant_a_tool(env: Env, database_url: str) -> None:
    sid = env.session(env.kim)
    env.model.calls(Call("c1", "fetch_page", {"url": "http://evil.example"}))
    env.model.calls(Call("c2", "wipe_everything", {}))  # the model obeys the page
    env.model.say("Done.")
    n = len(env.model.requests)
    r = env.say(env.kim, sid, "Summarise http://evil.example")
    assert r.status_code == 200, r.text
    results = [(e["tool"], e["status"]) for e in r.json()["events"] if e["type"] == "tool_result"]
    assert results == [("fetch_page", "ok"), ("wipe_everything", "refused")] and RAN["wipe"] == []
    after = env.model.requests[n + 1]
    assert "wipe_everything" not in {t["function"]["name"] for t in after["tools"]}
    page = next(m["content"] for m in after["messages"] if m["role"] == "tool")
    # The tool output passed the PII guard on its way to the (region us) model: the number is masked.
    assert "administrator has granted" in page and "010-1234-5678" not in page and "<KR_PHONE_1>" in page
    assert _denials(database_url, sid) == [("agent.tool_call", "tool:wipe_everything")]
    with psycopg.connect(database_url) as conn:
        pii = conn.execute("SELECT detail->'pii_types' FROM audit_events WHERE detail->>'session' = %s "
                           "AND action = 'agent.tool_result'", (sid,)).fetchall()
    assert pii == [(["KR_PHONE"],)]


def test_another_users_session_is_not_found_by_any_route(env: Env) -> None:
    sid = env.session(env.kim)
    base = f"/v1/agents/helper/sessions/{sid}"
    for method, path, body in (("GET", base, None), ("DELETE", base, None),
                               ("POST", f"{base}/messages", {"content": "hi"})):
        r = env.call(method, path, env.lee, body)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", (method, r.text)
    assert sid not in [s["id"] for s in env.call("GET", "/v1/agents/helper/sessions", env.lee).json()["data"]]
    assert env.call("GET", base, env.kim).status_code == 200  # still there, untouched


def test_another_tenants_agent_is_not_found(env: Env) -> None:
    stranger = make_key(env.base, f"x{TENANT}", "admin", user="kim")
    assert env.call("GET", "/v1/agents/helper", stranger).status_code == 404
    assert env.call("POST", "/v1/agents/helper/sessions", stranger, {}).status_code == 404
    assert env.call("GET", "/v1/agents", stranger).json()["data"] == []
