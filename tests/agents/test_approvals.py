"""Risky tools pause the turn for approval: decided by the session's user or a tenant admin (on
any replica), never by another user, never twice; the turn then resumes as the session's user.
A call whose intent was recorded but whose result never was (a crash mid-call) is not run again."""

from __future__ import annotations

import psycopg

from tests.agents.conftest import Env
from tests.agents.tools import RAN
from tests.support.wire.base import Call


def _pause(env: Env, key: str, to: str, amount: int) -> tuple[str, str]:
    sid = env.session(key)
    env.model.calls(Call(f"p{to}{amount}", "pay", {"to": to, "amount": amount}))
    r = env.say(key, sid, f"pay {to} {amount}")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "awaiting_approval" and [e["type"] for e in body["events"]][-2:] == [
        "approval_required", "done"]
    return sid, str(body["approvals"][0]["approval_id"])


def test_approved_by_the_user_on_another_replica_runs_once(env: Env, database_url: str) -> None:
    before = list(RAN["payment"])
    sid, appr = _pause(env, env.kim, "lee", 5)
    assert RAN["payment"] == before  # nothing moved before the decision
    r = env.say(env.kim, sid, "and another thing")
    assert r.status_code == 409 and "approval" in r.json()["error"]["message"]
    path = f"/v1/agents/helper/sessions/{sid}/approvals/{appr}"
    r = env.call("POST", path, env.lee, {"decision": "approve"})
    assert r.status_code == 404  # another user cannot even see it
    env.model.say("Paid lee 5.")
    r = env.call("POST", path, env.kim, {"decision": "approve", "reason": "I owe lee"}, base=env.other)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] == "Paid lee 5." and body["status"] == "idle"
    assert [(e["tool"], e["status"], e["content"]) for e in body["events"] if e["type"] == "tool_result"] == [
        ("pay", "ok", "paid 5 to lee")]
    assert RAN["payment"] == [*before, ("kim", "lee", 5)]
    r = env.call("POST", path, env.kim, {"decision": "approve"})  # a replay
    assert r.status_code == 409 and RAN["payment"] == [*before, ("kim", "lee", 5)]
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT action, decision, user_id, detail->>'reason' FROM audit_events "
                            "WHERE resource IN (%s, 'tool:pay') AND (detail->>'session' = %s OR resource = %s) "
                            "ORDER BY seq", (f"approval:{appr}", sid, f"approval:{appr}")).fetchall()
    assert [(a, d, u) for a, d, u, _ in rows] == [
        ("agent.approval.request", "allow", "kim"), ("agent.approval.decide", "deny", "lee"),
        ("agent.approval.approve", "allow", "kim"), ("agent.tool_call", "allow", "kim"),
        ("agent.tool_result", "allow", "kim"), ("agent.approval.decide", "deny", "kim")]
    assert rows[2][3] == "I owe lee"


def test_denied_calls_do_not_run_and_the_model_is_told(env: Env) -> None:
    before = list(RAN["payment"])
    sid, appr = _pause(env, env.kim, "mallory", 900)
    env.model.say("I did not pay.")
    n = len(env.model.requests)
    r = env.call("POST", f"/v1/agents/helper/sessions/{sid}/approvals/{appr}", env.kim,
                 {"decision": "deny", "reason": "not mallory"})
    assert r.status_code == 200 and r.json()["answer"] == "I did not pay.", r.text
    assert RAN["payment"] == before
    tool = next(m for m in env.model.requests[n]["messages"] if m["role"] == "tool")
    assert tool["content"] == "the user denied this call: not mallory"


def test_a_tenant_admin_approves_and_the_turn_continues_as_the_user(env: Env) -> None:
    sid, appr = _pause(env, env.kim, "park", 7)
    env.model.say("Paid.")
    r = env.call("POST", f"/v1/agents/helper/sessions/{sid}/approvals/{appr}", env.admin, {"decision": "approve"})
    assert r.status_code == 200, r.text
    assert RAN["payment"][-1] == ("kim", "park", 7)  # as kim, not as the admin


def test_a_call_interrupted_mid_run_is_never_run_twice(env: Env, database_url: str) -> None:
    before = list(RAN["payment"])
    sid, appr = _pause(env, env.kim, "choi", 3)
    # What a replica killed while running the approved call leaves behind: the intent recorded
    # (running), no result, and its hold on the session (lease) running out.
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE agent_tool_calls SET status = 'running' WHERE approval_id = %s", (appr,))
        conn.execute("UPDATE agent_sessions SET status = 'running', lease_until = now() - interval '1 second' "
                     "WHERE id = %s", (sid,))
    env.model.say("The payment may or may not have gone through; please check.")
    n = len(env.model.requests)
    r = env.say(env.kim, sid, "did it work?")
    assert r.status_code == 200, r.text
    results = [(e["tool"], e["status"]) for e in r.json()["events"] if e["type"] == "tool_result"]
    assert results == [("pay", "interrupted")] and RAN["payment"] == before
    sent = env.model.requests[n]["messages"]
    assert [m["role"] for m in sent[-3:]] == ["assistant", "tool", "user"]
    assert "not run again" in sent[-2]["content"]
    assert env.call("POST", f"/v1/agents/helper/sessions/{sid}/approvals/{appr}", env.kim,
                    {"decision": "approve"}).status_code == 409


def test_a_held_session_refuses_a_second_turn(env: Env, database_url: str) -> None:
    sid = env.session(env.kim)
    with psycopg.connect(database_url) as conn:
        conn.execute("UPDATE agent_sessions SET status = 'running', lease_until = now() + interval '1 minute' "
                     "WHERE id = %s", (sid,))
    r = env.say(env.kim, sid, "hello")
    assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
