"""`gureum jobs …` as a user runs it: submit (flags and a spec file), list, status, logs, cancel,
retry, status --follow until done, and errors that say what to do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-c", "from gureum.cli import main; main()"]
ROOT = Path(__file__).resolve().parents[2]


def _run(database_url: str, tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "GUREUM_DATABASE_URL": database_url, "GUREUM_DATA_DIR": str(tmp / "data"),
           "GUREUM_JOBS__POLL_SECONDS": "0.1", "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join(["src", ".", os.environ.get("PYTHONPATH", "")])}
    env.pop("GUREUM_CONFIG", None)
    return subprocess.run([*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)


def test_jobs_cli(database_url: str, tmp_path: Path, lines_file: Path) -> None:
    t = ["--tenant", "cli-t"]
    r = _run(database_url, tmp_path, "jobs", "submit", "--type", "test-digest", "--param", f"input={lines_file}",
             "--param", "every=10", "--user", "kim", "--json", *t)
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert job["state"] == "queued" and job["params"] == {"input": str(lines_file), "every": 10} and job["user"] == "kim"
    spec = tmp_path / "job.yaml"
    spec.write_text(f"type: test-digest\nmax_attempts: 5\nparams:\n  input: {lines_file}\n")
    r = _run(database_url, tmp_path, "jobs", "submit", str(spec), *t)
    assert r.returncode == 0, r.stderr
    second = r.stdout.strip()

    listed = json.loads(_run(database_url, tmp_path, "jobs", "list", "--json", *t).stdout)
    assert {j["id"] for j in listed} == {job["id"], second}
    assert [j["max_attempts"] for j in listed if j["id"] == second] == [5]
    assert json.loads(_run(database_url, tmp_path, "jobs", "list", "--json", "--tenant", "elsewhere").stdout) == []

    r = _run(database_url, tmp_path, "jobs", "cancel", second, *t)
    assert r.returncode == 0 and "cancelled" in r.stdout
    r = _run(database_url, tmp_path, "jobs", "retry", job["id"], *t)
    assert r.returncode == 2 and "only failed or cancelled jobs" in r.stderr
    r = _run(database_url, tmp_path, "jobs", "retry", second, *t)
    assert r.returncode == 0 and "queued" in r.stdout
    r = _run(database_url, tmp_path, "jobs", "status", "job_missing", *t)
    assert r.returncode == 2 and "no job 'job_missing'" in r.stderr and "gureum jobs list" in r.stderr
    r = _run(database_url, tmp_path, "jobs", "submit", "--type", "test-digest", "--param", "novalue", *t)
    assert r.returncode == 2 and "key=value" in r.stderr

    w = _run(database_url, tmp_path, "worker", "--import", "tests.jobs.handlers", "--max-jobs", "2",
             "--concurrency", "2")
    assert w.returncode == 0, w.stderr
    assert json.loads(w.stdout.strip().splitlines()[-1]) == {"jobs_run": 2}
    r = _run(database_url, tmp_path, "jobs", "status", job["id"], "--follow", "--json", *t)
    assert r.returncode == 0, r.stderr
    assert "40/40" in r.stdout
    done = json.loads(r.stdout[r.stdout.index("{"):])
    assert done["state"] == "succeeded" and done["result"]["lines"] == 40
    logs = _run(database_url, tmp_path, "jobs", "logs", second, *t).stdout
    assert "ended: succeeded" in logs and "(attempt 1)" in logs
