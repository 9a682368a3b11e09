"""Workers end to end: a job run in process, cancelled mid-run, failed and resumed from its
checkpoint, and a real worker process killed with SIGKILL whose job another worker finishes
with output byte-identical to an uninterrupted run."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path

import psycopg

import tests.jobs.handlers  # noqa: F401 - registers test-digest
from gureum.governance.principal import Principal, Role
from gureum.jobs.repository import JobRepository
from gureum.jobs.settings import JobSettings
from gureum.jobs.worker import Worker
from gureum.store import Store
from tests.jobs.processes import CLI, worker_env

ALICE = Principal(tenant_id="t-work", key_id="key_a", role=Role.MEMBER, user_id="alice")
FAST = JobSettings(lease_seconds=2, heartbeat_seconds=0.2, poll_seconds=0.1, backoff_seconds=0.1)


async def _run_one(store: Store, data: Path, settings: JobSettings = FAST) -> None:
    await asyncio.wait_for(Worker(store.engine, settings, data, types=["test-digest"]).run(max_jobs=1), 60)


async def _reference(store: Store, repo: JobRepository, lines: Path, tmp: Path) -> bytes:
    job = await repo.submit(ALICE, "test-digest", {"input": str(lines), "seed": 7, "every": 5}, max_attempts=1)
    await _run_one(store, tmp / "ref")
    done = await repo.get(None, job.id)
    assert done is not None and done.state == "succeeded", done
    out = Path(done.result["output"])  # type: ignore[index]
    return out.read_bytes()


async def test_run_fail_and_resume_is_identical(store: Store, repo: JobRepository, lines_file: Path,
                                                tmp_path: Path) -> None:
    ref = await _reference(store, repo, lines_file, tmp_path)
    assert ref.count(b"\n") == 40
    job = await repo.submit(ALICE, "test-digest", {"input": str(lines_file), "seed": 7, "every": 5, "fail_at": 23},
                            max_attempts=3)
    await _run_one(store, tmp_path / "w")  # attempt 1 fails at line 23, after checkpoint 4 (20 lines)
    mid = await repo.get(None, job.id)
    assert mid is not None and mid.state == "queued" and "planned failure" in (mid.error or "")
    assert mid.checkpoint_seq == 4
    await asyncio.sleep(0.15)
    await _run_one(store, tmp_path / "w")
    done = await repo.get(None, job.id)
    assert done is not None and done.state == "succeeded" and done.attempts == 2
    assert Path(done.result["output"]).read_bytes() == ref  # type: ignore[index]
    messages = [e["message"] for e in await repo.logs(job.id)]
    assert "resuming from checkpoint 4" in messages
    kept = sorted(p.name for p in (tmp_path / "w" / "jobs" / job.id / "checkpoints").iterdir())
    assert len(kept) == FAST.checkpoints_kept and kept[-1].startswith("ckpt-00000008")


async def test_cancel_a_running_job(store: Store, repo: JobRepository, lines_file: Path, tmp_path: Path) -> None:
    job = await repo.submit(ALICE, "test-digest", {"input": str(lines_file), "delay": 0.1}, max_attempts=1)
    run = asyncio.create_task(_run_one(store, tmp_path))
    for _ in range(100):
        j = await repo.get(None, job.id)
        if j is not None and j.state == "running":
            break
        await asyncio.sleep(0.05)
    await repo.cancel("t-work", job.id)
    await run
    done = await repo.get(None, job.id)
    assert done is not None and done.state == "cancelled" and done.result is None


def _state(database_url: str, job_id: str) -> tuple[str, int | None, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT state, checkpoint_seq, epoch FROM jobs WHERE id = %s", (job_id,)).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


async def test_sigkill_worker_then_another_finishes_identically(
    store: Store, repo: JobRepository, database_url: str, lines_file: Path, tmp_path: Path
) -> None:
    ref = await _reference(store, repo, lines_file, tmp_path)
    job = await repo.submit(ALICE, "test-digest", {"input": str(lines_file), "seed": 7, "every": 5, "delay": 0.05},
                            max_attempts=3)
    data = tmp_path / "shared"
    cmd = [*CLI, "worker", "--import", "tests.jobs.handlers", "--max-jobs", "1"]
    cwd = Path(__file__).resolve().parents[2]
    first = subprocess.Popen(cmd, env=worker_env(database_url, data), cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while (_state(database_url, job.id)[1] or 0) < 3:
        assert first.poll() is None, first.stderr.read() if first.stderr else ""
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    state, seq, epoch = _state(database_url, job.id)
    assert state == "running" and epoch == 1 and seq is not None and seq < 8  # killed mid-run
    killed_at = time.monotonic()
    second = subprocess.run(cmd, env=worker_env(database_url, data), cwd=cwd, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    done = await repo.get(None, job.id)
    assert done is not None and done.state == "succeeded" and done.epoch == 2 and done.attempts == 2
    assert time.monotonic() - killed_at < 40
    assert Path(done.result["output"]).read_bytes() == ref  # type: ignore[index]
    assert f"resuming from checkpoint {seq}" in [e["message"] for e in await repo.logs(job.id)]
