"""Long-term memories: each user's agent remembers through the governed flow (real e5 vectors on
pgvector) and recalls only that user's facts; forget-me deletes memories and sessions, returns a
receipt, leaves no row behind, and only a tenant admin may forget someone else."""

from __future__ import annotations

import json
import uuid

import psycopg

from tests.agents.conftest import TENANT, Env
from tests.support.wire.base import Call


def _tool(env: Env, key: str, sid: str, name: str, args: dict[str, object]) -> dict[str, object]:
    env.model.calls(Call("m" + uuid.uuid4().hex[:8], name, args))
    env.model.say("ok")
    r = env.say(key, sid, f"{name} please", agent="memo")
    assert r.status_code == 200, r.text
    result = next(e for e in r.json()["events"] if e["type"] == "tool_result")
    assert result["status"] == "ok", result
    return dict(json.loads(str(result["content"])))


def test_memories_are_per_user_and_forget_me_leaves_nothing(env: Env, database_url: str) -> None:
    r = env.call("POST", "/v1/agents", env.admin, {"name": "memo", "model": "gpt-test",
                                                   "tools": [{"name": "remember"}, {"name": "recall"}]})
    assert r.status_code == 201, r.text
    canary = {"kim": f"kim-canary-{uuid.uuid4().hex[:8]}", "lee": f"lee-canary-{uuid.uuid4().hex[:8]}"}
    keys = {"kim": env.kim, "lee": env.lee}
    sids = {u: env.call("POST", "/v1/agents/memo/sessions", k, {}).json()["id"] for u, k in keys.items()}
    for user, key in keys.items():
        _tool(env, key, sids[user], "remember", {"fact": f"My locker code is {canary[user]}."})
        _tool(env, key, sids[user], "remember", {"fact": "I like green tea."})
    for user, key in keys.items():
        found = _tool(env, key, sids[user], "recall", {"query": "locker code", "k": 5})["memories"]
        other = canary["lee" if user == "kim" else "kim"]
        assert any(canary[user] in m for m in found) and not any(other in m for m in found)  # type: ignore[attr-defined]
    listed = env.call("GET", "/v1/memories?agent=memo", env.lee).json()["data"]
    assert len(listed) == 2 and all(canary["kim"] not in m["text"] for m in listed)
    r = env.call("DELETE", "/v1/memories?user=kim", env.lee)
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    r = env.call("DELETE", "/v1/memories", env.kim)  # forget me
    assert r.status_code == 200, r.text
    receipt = r.json()
    assert receipt["object"] == "memories.deletion_receipt" and receipt["user"] == "kim"
    assert receipt["deleted"]["memories"] == 2 and receipt["deleted"]["sessions"] >= 1
    assert receipt["remaining_memories"] == 0 and receipt["deleted"]["messages"] > 0
    assert env.call("GET", "/v1/memories", env.kim).json()["data"] == []
    assert env.call("GET", f"/v1/agents/memo/sessions/{sids['kim']}", env.kim).status_code == 404
    assert len(env.call("GET", "/v1/memories?agent=memo", env.lee).json()["data"]) == 2  # lee's untouched
    with psycopg.connect(database_url) as conn:
        residue = conn.execute(
            "SELECT (SELECT count(*) FROM agent_memories WHERE text LIKE %(c)s)"
            " + (SELECT count(*) FROM agent_messages WHERE message::text LIKE %(c)s)"
            " + (SELECT count(*) FROM agent_tool_calls WHERE arguments::text LIKE %(c)s OR result LIKE %(c)s)"
            " + (SELECT count(*) FROM cache_entries WHERE query || body::text LIKE %(c)s)",
            {"c": f"%{canary['kim']}%"}).fetchone()
        audit = conn.execute("SELECT decision, detail FROM audit_events WHERE tenant_id = %s AND action = "
                             "'memory.forget' ORDER BY seq", (TENANT,)).fetchall()
    assert residue == (0,)
    assert [d for d, _ in audit] == ["deny", "allow"] and audit[1][1]["receipt"] == receipt["id"]
    assert "kim" not in json.dumps(audit[1][1])
    r = env.call("DELETE", "/v1/memories?user=lee&agent=memo", env.admin)
    assert r.status_code == 200 and r.json()["deleted"]["memories"] == 2


def test_memories_cli_lists_your_own_and_forgets(env: Env) -> None:
    from typer.testing import CliRunner

    from gureum.cli import app

    r = env.call("POST", "/v1/agents", env.admin, {"name": "memocli", "model": "gpt-test",
                                                   "tools": [{"name": "remember"}]})
    assert r.status_code == 201, r.text
    fact = f"cli-canary-{uuid.uuid4().hex[:8]}"
    sid = env.call("POST", "/v1/agents/memocli/sessions", env.kim, {}).json()["id"]
    env.model.calls(Call("m" + uuid.uuid4().hex[:8], "remember", {"fact": f"My desk is {fact}."}))
    env.model.say("ok")
    assert env.say(env.kim, sid, "remember please", agent="memocli").status_code == 200
    runner = CliRunner()

    def cli(key: str, *args: str) -> tuple[int, str]:
        res = runner.invoke(app, ["memories", *args, "--url", env.base, "--key", key], env={"COLUMNS": "200"})
        return res.exit_code, res.output

    code, out = cli(env.kim, "list", "--agent", "memocli")
    assert code == 0 and fact in out
    code, out = cli(env.lee, "list", "--agent", "memocli")
    assert code == 0 and fact not in out  # only your own
    code, out = cli(env.lee, "forget", "--user", "kim", "--yes")
    assert code == 2 and "Only a tenant admin" in out and "hint:" in out
    code, out = cli(env.admin, "forget", "--user", "kim", "--agent", "memocli", "--yes")
    assert code == 0 and '"memories": 1' in out
    assert fact not in cli(env.kim, "list")[1]
