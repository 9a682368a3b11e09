"""The queue's state changes, lease expiry and fencing, against a real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from gureum.governance.principal import Principal, Role
from gureum.jobs.repository import JobRepository, LeaseLost

ALICE = Principal(tenant_id="t-queue", key_id="key_a", role=Role.MEMBER, user_id="alice", groups=("eng",))
TYPES = ["q-test"]


async def _drain(repo: JobRepository) -> None:
    while (c := await repo.claim("drain", TYPES, 30)) is not None:
        await repo.succeed(c, {})


async def test_submit_claim_succeed(repo: JobRepository) -> None:
    await _drain(repo)
    job = await repo.submit(ALICE, "q-test", {"a": 1}, max_attempts=3)
    assert job.state == "queued" and job.principal == ALICE
    claim = await repo.claim("w1", TYPES, 30)
    assert claim is not None and claim.id == job.id and claim.job.state == "running"
    assert claim.epoch == 1 and claim.job.attempts == 1 and claim.job.worker == "w1"
    assert await repo.claim("w2", TYPES, 30) is None  # held by w1
    await repo.progress(claim, 3, 10)
    await repo.succeed(claim, {"ok": True})
    done = await repo.get("t-queue", job.id)
    assert done is not None and done.state == "succeeded" and done.result == {"ok": True}
    assert done.progress_done == 10 and done.finished_at is not None
    assert await repo.get("other-tenant", job.id) is None
    logs = await repo.logs(job.id)
    assert [entry["message"] for entry in logs] == ["attempt 1 claimed by w1", "attempt 1 ended: succeeded"]


async def test_expired_lease_is_reclaimed_and_the_stale_worker_is_fenced(repo: JobRepository) -> None:
    await _drain(repo)
    job = await repo.submit(ALICE, "q-test", {}, max_attempts=3)
    stale = await repo.claim("w-old", TYPES, 0.3)
    assert stale is not None
    assert await repo.claim("w-new", TYPES, 30) is None  # lease still live
    await asyncio.sleep(0.5)
    fresh = await repo.claim("w-new", TYPES, 30)
    assert fresh is not None and fresh.id == job.id and fresh.epoch == stale.epoch + 1
    for write in (repo.progress(stale, 1, 2), repo.heartbeat(stale, 30), repo.log(stale, "info", "x"),
                  repo.commit_checkpoint(stale, 1, "/nope", "0", 1, 3), repo.succeed(stale, {"by": "old"}),
                  repo.fail(stale, "boom", backoff=0, backoff_max=0), repo.cancelled(stale)):
        with pytest.raises(LeaseLost):
            await write
    await repo.progress(fresh, 2, 2)
    await repo.succeed(fresh, {"by": "new"})
    final = await repo.get(None, job.id)
    assert final is not None and final.state == "succeeded" and final.result == {"by": "new"}
    assert final.attempts == 2 and await repo.latest_checkpoint(job.id) is None


async def test_failure_backs_off_then_fails_for_good_and_retry_requeues(repo: JobRepository) -> None:
    await _drain(repo)
    job = await repo.submit(ALICE, "q-test", {}, max_attempts=2)
    c1 = await repo.claim("w", TYPES, 30)
    assert c1 is not None
    assert await repo.fail(c1, "first", backoff=0.4, backoff_max=10) == "queued"
    queued = await repo.get(None, job.id)
    assert queued is not None and queued.state == "queued" and queued.error == "first"
    assert queued.run_after > datetime.now(UTC)
    assert await repo.claim("w", TYPES, 30) is None  # still backing off
    await asyncio.sleep(0.5)
    c2 = await repo.claim("w", TYPES, 30)
    assert c2 is not None and c2.job.attempts == 2
    assert await repo.fail(c2, "second", backoff=0.4, backoff_max=10) == "failed"
    failed = await repo.get(None, job.id)
    assert failed is not None and failed.state == "failed" and failed.finished_at is not None
    again = await repo.retry("t-queue", job.id)
    assert again is not None and again.state == "queued" and again.attempts == 0 and again.error is None
    c3 = await repo.claim("w", TYPES, 30)
    assert c3 is not None and c3.job.attempts == 1
    await repo.succeed(c3, {})


async def test_non_retriable_failure_and_lost_last_attempt(repo: JobRepository) -> None:
    await _drain(repo)
    job = await repo.submit(ALICE, "q-test", {}, max_attempts=3)
    c = await repo.claim("w", TYPES, 30)
    assert c is not None
    assert await repo.fail(c, "bad params", backoff=0, backoff_max=0, retriable=False) == "failed"
    one = await repo.submit(ALICE, "q-test", {}, max_attempts=1)
    c = await repo.claim("w", TYPES, 0.2)
    assert c is not None and c.id == one.id
    await asyncio.sleep(0.4)
    assert await repo.claim("w2", TYPES, 30) is None  # expired on its last attempt: failed, not re-run
    lost = await repo.get(None, one.id)
    assert lost is not None and lost.state == "failed" and "worker lost" in (lost.error or "")
    assert (await repo.get(None, job.id)).state == "failed"  # type: ignore[union-attr]


async def test_cancel_queued_and_running(repo: JobRepository) -> None:
    await _drain(repo)
    queued = await repo.submit(ALICE, "q-test", {}, max_attempts=3)
    assert await repo.cancel("another", queued.id) is None
    cancelled = await repo.cancel("t-queue", queued.id)
    assert cancelled is not None and cancelled.state == "cancelled"
    assert await repo.claim("w", TYPES, 30) is None
    running = await repo.submit(ALICE, "q-test", {}, max_attempts=3)
    c = await repo.claim("w", TYPES, 30)
    assert c is not None and not await repo.heartbeat(c, 30)
    asked = await repo.cancel(None, running.id)
    assert asked is not None and asked.state == "running" and asked.cancel_requested
    assert await repo.heartbeat(c, 30)
    await repo.cancelled(c)
    assert (await repo.get(None, running.id)).state == "cancelled"  # type: ignore[union-attr]
    # A finished job stays finished.
    again = await repo.cancel(None, running.id)
    assert again is not None and again.state == "cancelled"


async def test_concurrent_claims_never_share_a_job(repo: JobRepository) -> None:
    await _drain(repo)
    ids = {(await repo.submit(ALICE, "q-test", {"n": i}, max_attempts=1)).id for i in range(12)}
    claims = await asyncio.gather(*(repo.claim(f"w{i}", TYPES, 30) for i in range(16)))
    got = [c.id for c in claims if c is not None]
    assert sorted(got) == sorted(ids)
    for c in claims:
        if c is not None:
            await repo.succeed(c, {})
