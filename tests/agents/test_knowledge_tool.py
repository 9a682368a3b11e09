"""The built-in knowledge_search tool retrieves through the governed flow as the session's user:
their ACL decides what the model gets to read, and the retrieval is an `agent` call in ledger
and audit. Real e5 embeddings on real PostgreSQL."""

from __future__ import annotations

import json

import psycopg

from tests.agents.conftest import Env
from tests.support.wire.base import Call

DOCS = [
    {"uri": "plan.md", "text": "# 비밀 계획\n\n프로젝트 알파의 출시일은 3월 14일이다.", "acl": {"users": ["kim"]}},
    {"uri": "leave.md", "text": "# 휴가 규정\n\n프로젝트 휴가는 미리 신청한다. 출시일 전후에는 휴가를 피한다."},
]


def _search(env: Env, key: str, sid: str, call_id: str) -> list[dict[str, str]]:
    env.model.calls(Call(call_id, "knowledge_search", {"query": "프로젝트 출시일"}))
    env.model.say("done")
    n = len(env.model.requests)
    r = env.say(key, sid, "프로젝트 출시일은?")
    assert r.status_code == 200, r.text
    tool = next(m for m in env.model.requests[n + 1]["messages"] if m["role"] == "tool")
    return list(json.loads(tool["content"])["passages"])


def test_knowledge_search_sees_only_what_the_user_may_read(env: Env, database_url: str) -> None:
    r = env.call("POST", "/v1/collections", env.admin, {"name": "handbook", "embedder": "local-embed"})
    assert r.status_code == 201, r.text
    r = env.call("POST", "/v1/collections/handbook/documents", env.admin, {"documents": DOCS})
    assert r.status_code == 200 and r.json()["added"] == 2, r.text
    kim_sid, lee_sid = env.session(env.kim), env.session(env.lee)
    assert {p["uri"] for p in _search(env, env.kim, kim_sid, "k1")} == {"plan.md", "leave.md"}
    lee = _search(env, env.lee, lee_sid, "k2")
    assert [p["uri"] for p in lee] == ["leave.md"] and not any("3월 14일" in p["text"] for p in lee)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT user_id, origin FROM ledger WHERE endpoint = 'retrieve' AND request_id LIKE %s",
                            (f"{lee_sid}:%",)).fetchall()
    assert rows == [("lee", "agent")]


def test_knowledge_search_stays_in_the_agents_collections(env: Env) -> None:
    sid = env.session(env.kim)
    env.model.calls(Call("k3", "knowledge_search", {"query": "x", "collection": "payroll"}))
    env.model.say("no")
    r = env.say(env.kim, sid, "search payroll")
    result = next(e for e in r.json()["events"] if e["type"] == "tool_result")
    assert "not one of this agent's collections: handbook" in result["content"]
