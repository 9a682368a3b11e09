"""`/v1/jobs` over real HTTP: submit, read, list, logs, cancel and retry — tenant- and
user-scoped, audited, errors in OpenAI's shape — and a job submitted there run by a worker."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg

import tests.jobs.handlers  # noqa: F401 - registers test-digest in the server's process
from gureum.jobs.settings import JobSettings
from gureum.jobs.worker import Worker
from gureum.store import Store
from tests.support.keys import make_key


def _h(key: str) -> dict[str, str]:
    return {"authorization": f"Bearer {key}"}


def _actions(database_url: str, job_id: str) -> list[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT action FROM audit_events WHERE resource = %s ORDER BY seq",
                            (f"job:{job_id}",)).fetchall()
    return [r[0] for r in rows]


async def _queued(c: httpx.AsyncClient) -> float:
    text = (await c.get("/metrics")).text
    return float(next(line.split()[-1] for line in text.splitlines() if line.startswith('gureum_jobs{state="queued"}')))


async def test_jobs_api_scoping_audit_and_run(gateway: str, database_url: str, store: Store, lines_file: Path,
                                              tmp_path: Path) -> None:
    admin = make_key(gateway, "jobs-a", "admin", user="root-a")
    alice = make_key(gateway, "jobs-a", "member", user="alice")
    bob = make_key(gateway, "jobs-a", "member", user="bob")
    other = make_key(gateway, "jobs-b", "admin", user="eve")
    async with httpx.AsyncClient(base_url=gateway, timeout=30) as c:
        r = await c.post("/v1/jobs", headers=_h(alice), json={"type": "nope"})
        assert r.status_code == 400
        assert r.json()["error"]["code"] == "unknown_job_type" and r.json()["error"]["param"] == "type"
        r = await c.post("/v1/jobs", headers=_h(alice), json={"type": "test-digest", "params": {}, "bogus": 1})
        assert r.status_code == 422 and set(r.json()["error"]) == {"message", "type", "param", "code"}

        queued_before = await _queued(c)
        r = await c.post("/v1/jobs", headers=_h(alice),
                         json={"type": "test-digest", "params": {"input": str(lines_file), "every": 10}})
        assert r.status_code == 201, r.text
        assert await _queued(c) == queued_before + 1  # the workers' scaling signal in /metrics
        job = r.json()
        assert job["state"] == "queued" and job["user"] == "alice"
        jid = job["id"]
        for key in (bob, other):
            r = await c.get(f"/v1/jobs/{jid}", headers=_h(key))
            assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found"
            r = await c.post(f"/v1/jobs/{jid}/cancel", headers=_h(key))
            assert r.status_code == 404
        assert [j["id"] for j in (await c.get("/v1/jobs", headers=_h(bob))).json()["data"]] == []
        assert [j["id"] for j in (await c.get("/v1/jobs", headers=_h(other))).json()["data"]] == []
        assert jid in [j["id"] for j in (await c.get("/v1/jobs", headers=_h(admin))).json()["data"]]
        assert (await c.get(f"/v1/jobs/{jid}", headers=_h(admin))).status_code == 200
        assert (await c.get("/v1/jobs?state=weird", headers=_h(alice))).status_code == 400

        r = await c.post(f"/v1/jobs/{jid}/retry", headers=_h(alice))
        assert r.status_code == 400 and r.json()["error"]["code"] == "job_not_retryable"
        r = await c.post(f"/v1/jobs/{jid}/cancel", headers=_h(alice))
        assert r.status_code == 200 and r.json()["state"] == "cancelled"
        r = await c.post(f"/v1/jobs/{jid}/retry", headers=_h(alice))
        assert r.status_code == 200 and r.json()["state"] == "queued"

        await Worker(store.engine, JobSettings(poll_seconds=0.1), tmp_path, types=["test-digest"]).run(max_jobs=1)
        done = (await c.get(f"/v1/jobs/{jid}", headers=_h(alice))).json()
        assert done["state"] == "succeeded" and done["progress"] == {"done": 40, "total": 40, "rate": None,
                                                                     "eta_seconds": None}
        assert done["result"]["lines"] == 40
        logs = (await c.get(f"/v1/jobs/{jid}/logs", headers=_h(alice))).json()["data"]
        assert logs[0]["message"].startswith("attempt 1 claimed by") and logs[-1]["message"].endswith("succeeded")
    assert _actions(database_url, jid) == ["jobs.submit", "jobs.cancel", "jobs.retry"]
