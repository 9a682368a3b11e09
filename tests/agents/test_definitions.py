"""Agent definitions: declared in gureum.yaml or created through the API by a tenant admin,
scoped to the tenant, validated (unknown tools refused), audited."""

from __future__ import annotations

import psycopg

from tests.agents.conftest import TENANT, Env
from tests.support.keys import make_key


def test_an_admin_creates_lists_reads_and_deletes_an_agent(env: Env, database_url: str) -> None:
    spec = {"name": "scribe", "instructions": "Take notes.", "tools": [{"name": "weather", "groups": ["web"]}],
            "limits": {"max_steps": 3}}
    r = env.call("POST", "/v1/agents", env.admin, spec)
    assert r.status_code == 201, r.text
    assert r.json()["tenant"] == TENANT and r.json()["model"] == "auto" and r.json()["source"] == "api"
    assert env.call("POST", "/v1/agents", env.admin, spec).status_code == 409
    listed = {a["name"]: a["source"] for a in env.call("GET", "/v1/agents", env.kim).json()["data"]}
    assert listed == {"helper": "config", "scribe": "api"}
    got = env.call("GET", "/v1/agents/scribe", env.lee).json()
    assert got["limits"]["max_steps"] == 3 and got["tools"][0]["groups"] == ["web"]
    stranger = make_key(env.base, f"d{TENANT}", "admin", user="x")
    assert env.call("GET", "/v1/agents/scribe", stranger).status_code == 404
    assert env.call("DELETE", "/v1/agents/scribe", stranger).status_code == 404
    sid = env.session(env.kim, "scribe")
    r = env.call("DELETE", "/v1/agents/scribe", env.admin)
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert env.call("GET", "/v1/agents/scribe", env.kim).status_code == 404
    with psycopg.connect(database_url) as conn:
        left = conn.execute("SELECT count(*) FROM agent_sessions WHERE id = %s", (sid,)).fetchone()
        actions = conn.execute("SELECT action, user_id FROM audit_events WHERE resource = 'agent:scribe' "
                               "ORDER BY seq").fetchall()
    assert left == (0,) and actions == [("agent.create", "boss"), ("agent.delete", "boss")]


def test_members_cannot_define_agents_and_bad_definitions_are_refused(env: Env) -> None:
    r = env.call("POST", "/v1/agents", env.kim, {"name": "mine"})
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error"
    r = env.call("POST", "/v1/agents", env.admin, {"name": "x", "tools": [{"name": "rm_rf"}]})
    assert r.status_code == 400 and "unknown tool(s): rm_rf" in r.json()["error"]["message"]
    r = env.call("POST", "/v1/agents", env.admin, {"name": "bad name!"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "name"
    r = env.call("POST", "/v1/agents", env.admin, {"name": "helper"})
    assert r.status_code == 409 and "gureum.yaml" in r.json()["error"]["message"]
    r = env.call("POST", "/v1/agents", env.admin, {"name": "other", "tenant": "someone-else"})
    assert r.status_code == 403
    r = env.call("DELETE", "/v1/agents/helper", env.admin)
    assert r.status_code == 400 and "gureum.yaml" in r.json()["error"]["message"]
