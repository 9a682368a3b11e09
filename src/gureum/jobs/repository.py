"""The queue in PostgreSQL. Claiming is `SELECT … FOR UPDATE SKIP LOCKED`; each claim gets a
fresh lease token, and every write a worker makes afterwards (heartbeat, progress, log,
checkpoint, result, state) is fenced by it: `WHERE id = :id AND lease = :lease`. A worker whose
lease expired and was claimed again (it was presumed dead) finds its writes refused (`LeaseLost`)
and stops, so it never overwrites the newer claim's work."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gureum.governance.principal import Principal, Role

QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINAL = (SUCCEEDED, FAILED, CANCELLED)


class LeaseLost(Exception):
    """The job was claimed by another worker (or finished, or cancelled) since this claim."""


@dataclass(frozen=True)
class Job:
    id: str
    tenant_id: str
    user_id: str | None
    key_id: str
    role: str
    groups: tuple[str, ...]
    type: str
    params: dict[str, Any]
    resources: dict[str, Any]
    state: str
    attempts: int
    max_attempts: int
    epoch: int
    lease: str | None
    worker: str | None
    cancel_requested: bool
    progress_done: int
    progress_total: int | None
    result: dict[str, Any] | None
    error: str | None
    checkpoint_seq: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    run_after: datetime

    @classmethod
    def of(cls, row: Any) -> Job:
        m = row._mapping
        fields: dict[str, Any] = {f: (tuple(m[f]) if f == "groups" else m[f]) for f in cls.__dataclass_fields__}
        return cls(**fields)

    @property
    def principal(self) -> Principal:
        """The submitter, as whom the job's work runs."""
        return Principal(tenant_id=self.tenant_id, key_id=self.key_id, role=Role(self.role),
                         user_id=self.user_id, groups=self.groups)

    def public(self) -> dict[str, Any]:
        rate = None
        if self.started_at and self.progress_done and self.state == RUNNING and self.heartbeat_at:
            secs = (self.heartbeat_at - self.started_at).total_seconds()
            rate = self.progress_done / secs if secs > 0 else None
        eta = None
        if rate and self.progress_total is not None:
            eta = max(0.0, (self.progress_total - self.progress_done) / rate)
        return {
            "id": self.id, "object": "job", "type": self.type, "state": self.state, "params": self.params,
            "resources": self.resources, "attempts": self.attempts, "max_attempts": self.max_attempts,
            "user": self.user_id, "worker": self.worker, "cancel_requested": self.cancel_requested,
            "progress": {"done": self.progress_done, "total": self.progress_total, "rate": rate, "eta_seconds": eta},
            "result": self.result, "error": self.error, "checkpoint": self.checkpoint_seq,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a job: the job as claimed and the lease every write is fenced by."""

    job: Job
    lease: str

    @property
    def id(self) -> str:
        return self.job.id

    @property
    def epoch(self) -> int:
        return self.job.epoch


def _fenced(result: Any, claim: Claim) -> None:
    if result.rowcount == 0:
        raise LeaseLost(f"job {claim.id}: lease of claim {claim.epoch} is no longer held")


_FENCE = "id = :id AND lease = :lease AND state = 'running'"


class JobRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    # ------------------------------------------------------------------ submitting and reading

    async def submit(self, principal: Principal, type_: str, params: dict[str, Any], *, max_attempts: int,
                     resources: dict[str, Any] | None = None, priority: int = 0, once: bool = False) -> Job:
        """Queue a job. `once`: unless the tenant already has a queued job of this type, which is
        returned instead (a job that converges state — an index build — is worth queuing once however
        many writes ask for it; one that is already running may have read the state too early, so a
        new one is still queued then)."""
        job_id = "job_" + uuid.uuid4().hex[:24]
        async with self.engine.begin() as conn:
            if once:
                await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
                                   {"k": f"gureum:job-once:{principal.tenant_id}:{type_}"})
                row = (await conn.execute(text(
                    "SELECT * FROM jobs WHERE tenant_id = :t AND type = :type AND state = 'queued' LIMIT 1"),
                    {"t": principal.tenant_id, "type": type_})).first()
                if row is not None:
                    return Job.of(row)
            row = (await conn.execute(text(
                """INSERT INTO jobs (id, tenant_id, user_id, key_id, role, groups, type, params, resources, priority,
                                     max_attempts)
                   VALUES (:id, :t, :u, :k, :r, :g, :type, CAST(:p AS jsonb), CAST(:res AS jsonb), :prio, :max)
                   RETURNING *"""),
                {"id": job_id, "t": principal.tenant_id, "u": principal.user_id, "k": principal.key_id,
                 "r": principal.role.value, "g": list(principal.groups), "type": type_, "p": _json(params),
                 "res": _json(resources or {}), "prio": priority, "max": max_attempts})).one()
        return Job.of(row)

    async def get(self, tenant_id: str | None, job_id: str) -> Job | None:
        """The job, if it is in `tenant_id` (None: any tenant, for platform admins)."""
        async with self.engine.connect() as conn:
            row = (await conn.execute(
                text("SELECT * FROM jobs WHERE id = :id AND (CAST(:t AS text) IS NULL OR tenant_id = :t)"),
                {"id": job_id, "t": tenant_id})).first()
        return Job.of(row) if row else None

    async def find(self, tenant_id: str | None, *, state: str | None = None, limit: int = 50,
                   user_id: str | None = None, type_: str | None = None) -> list[Job]:
        """Jobs of `tenant_id` (None: all), newest first; with `user_id`, only that user's."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(text(
                """SELECT * FROM jobs WHERE (CAST(:t AS text) IS NULL OR tenant_id = :t)
                     AND (CAST(:s AS text) IS NULL OR state = :s)
                     AND (CAST(:u AS text) IS NULL OR user_id = :u) AND (CAST(:ty AS text) IS NULL OR type = :ty)
                   ORDER BY created_at DESC, id LIMIT :n"""),
                {"t": tenant_id, "s": state, "u": user_id, "ty": type_, "n": limit})
            return [Job.of(r) for r in rows]

    async def depth(self) -> dict[str, int]:
        """Jobs waiting and running, over every tenant: the workers' scaling signal."""
        async with self.engine.connect() as conn:
            rows = (await conn.execute(text(
                "SELECT state, count(*) FROM jobs WHERE state IN ('queued', 'running') GROUP BY state"))).all()
        return {"queued": 0, "running": 0} | {str(state): int(n) for state, n in rows}

    async def logs(self, job_id: str, *, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT id, epoch, ts, level, message FROM job_logs WHERE job_id = :j AND id > :a ORDER BY id LIMIT :n"),
                {"j": job_id, "a": after, "n": limit})
            return [{"id": r.id, "attempt": r.epoch, "ts": r.ts.isoformat(), "level": r.level, "message": r.message}
                    for r in rows]

    async def cancel(self, tenant_id: str | None, job_id: str) -> Job | None:
        """A queued job is cancelled at once; a running one is asked to stop (its worker sees the
        request at its next heartbeat and ends it as cancelled). A finished job is left as it is."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(text(
                """UPDATE jobs SET
                     state = CASE WHEN state = 'queued' THEN 'cancelled' ELSE state END,
                     finished_at = CASE WHEN state = 'queued' THEN now() ELSE finished_at END,
                     lease = CASE WHEN state = 'queued' THEN NULL ELSE lease END,
                     cancel_requested = cancel_requested OR state = 'running'
                   WHERE id = :id AND (CAST(:t AS text) IS NULL OR tenant_id = :t) RETURNING *"""),
                {"id": job_id, "t": tenant_id})).first()
        return Job.of(row) if row else None

    async def retry(self, tenant_id: str | None, job_id: str) -> Job | None:
        """A failed or cancelled job queued again with fresh attempts; it resumes from its last
        committed checkpoint. Any other job is returned unchanged."""
        async with self.engine.begin() as conn:
            row = (await conn.execute(text(
                """UPDATE jobs SET state = 'queued', attempts = 0, run_after = now(), error = NULL,
                          cancel_requested = false, finished_at = NULL, lease = NULL
                   WHERE id = :id AND (CAST(:t AS text) IS NULL OR tenant_id = :t)
                     AND state IN ('failed', 'cancelled') RETURNING *"""),
                {"id": job_id, "t": tenant_id})).first()
        return Job.of(row) if row else await self.get(tenant_id, job_id)

    # ------------------------------------------------------------------ claiming

    async def claim(self, worker: str, types: list[str], lease_seconds: float) -> Claim | None:
        """The next runnable job of `types`: a queued one whose time has come, or a running one
        whose lease expired (its worker stopped heartbeating). Jobs whose lease expired on their
        last attempt are failed first."""
        token = uuid.uuid4().hex
        async with self.engine.begin() as conn:
            await conn.execute(text(
                """UPDATE jobs SET state = 'failed', lease = NULL, finished_at = now(),
                          error = 'worker lost (lease expired) on the last attempt'
                   WHERE state = 'running' AND lease_expires_at < now() AND attempts >= max_attempts"""))
            row = (await conn.execute(text(
                """UPDATE jobs SET state = 'running', lease = :lease, epoch = epoch + 1, worker = :w,
                          attempts = attempts + 1, heartbeat_at = now(),
                          lease_expires_at = now() + make_interval(secs => :ttl),
                          started_at = coalesce(started_at, now())
                   WHERE id = (SELECT id FROM jobs
                               WHERE type = ANY(:types) AND (
                                 (state = 'queued' AND run_after <= now())
                                 OR (state = 'running' AND lease_expires_at < now() AND attempts < max_attempts))
                               ORDER BY priority DESC, created_at, id
                               FOR UPDATE SKIP LOCKED LIMIT 1)
                   RETURNING *"""),
                {"lease": token, "w": worker, "ttl": lease_seconds, "types": types})).first()
            if row is None:
                return None
            job = Job.of(row)
            await self._log(conn, job.id, job.epoch, "info", f"attempt {job.attempts} claimed by {worker}")
        return Claim(job, token)

    # ------------------------------------------------------------------ fenced writes

    async def heartbeat(self, claim: Claim, lease_seconds: float) -> bool:
        """Renew the lease; returns whether a cancel was requested. Raises `LeaseLost`."""
        async with self.engine.begin() as conn:
            res = await conn.execute(text(
                f"""UPDATE jobs SET heartbeat_at = now(), lease_expires_at = now() + make_interval(secs => :ttl)
                    WHERE {_FENCE} RETURNING cancel_requested"""),
                {"id": claim.id, "lease": claim.lease, "ttl": lease_seconds})
            row = res.first()
        if row is None:
            raise LeaseLost(f"job {claim.id}: lease of claim {claim.epoch} is no longer held")
        return bool(row[0])

    async def progress(self, claim: Claim, done: int, total: int | None) -> None:
        async with self.engine.begin() as conn:
            _fenced(await conn.execute(text(
                f"UPDATE jobs SET progress_done = :d, progress_total = coalesce(:n, progress_total) WHERE {_FENCE}"),
                {"id": claim.id, "lease": claim.lease, "d": done, "n": total}), claim)

    async def log(self, claim: Claim, level: str, message: str) -> None:
        async with self.engine.begin() as conn:
            await self._hold(conn, claim)
            await self._log(conn, claim.id, claim.epoch, level, message)

    async def commit_checkpoint(self, claim: Claim, seq: int, path: str, sha256: str, done: int,
                                keep: int) -> list[str]:
        """Record a checkpoint file already durable on disk; only now does it count. Returns the
        paths of checkpoints beyond the last `keep`, whose rows are gone and whose files the caller
        deletes."""
        async with self.engine.begin() as conn:
            await self._hold(conn, claim)
            await conn.execute(text(
                """INSERT INTO job_checkpoints (job_id, seq, epoch, path, sha256)
                   VALUES (:id, :seq, :epoch, :path, :sha)"""),
                {"id": claim.id, "seq": seq, "epoch": claim.epoch, "path": path, "sha": sha256})
            await conn.execute(text(
                f"UPDATE jobs SET checkpoint_seq = :seq, progress_done = :d WHERE {_FENCE}"),
                {"id": claim.id, "lease": claim.lease, "seq": seq, "d": done})
            old = await conn.execute(text(
                """DELETE FROM job_checkpoints WHERE job_id = :id AND seq NOT IN (
                     SELECT seq FROM job_checkpoints WHERE job_id = :id ORDER BY seq DESC LIMIT :keep)
                   RETURNING path"""), {"id": claim.id, "keep": keep})
            return [r[0] for r in old]

    async def latest_checkpoint(self, job_id: str) -> tuple[int, str, str] | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(text(
                """SELECT c.seq, c.path, c.sha256 FROM jobs j JOIN job_checkpoints c
                     ON c.job_id = j.id AND c.seq = j.checkpoint_seq WHERE j.id = :id"""), {"id": job_id})).first()
        return (int(row[0]), str(row[1]), str(row[2])) if row else None

    async def succeed(self, claim: Claim, result: dict[str, Any]) -> None:
        await self._finish(claim, SUCCEEDED, result=result)

    async def cancelled(self, claim: Claim) -> None:
        await self._finish(claim, CANCELLED, error="cancelled on request")

    async def fail(self, claim: Claim, error: str, *, backoff: float, backoff_max: float, retriable: bool = True) -> str:
        """End this attempt with `error`: queued again after a doubling delay while attempts
        remain (and the error is retriable), else failed. Returns the new state."""
        delay = min(backoff_max, backoff * 2 ** max(0, claim.job.attempts - 1))
        again = retriable and claim.job.attempts < claim.job.max_attempts
        async with self.engine.begin() as conn:
            await self._hold(conn, claim)
            await self._log(conn, claim.id, claim.epoch, "error", error)
            _fenced(await conn.execute(text(
                f"""UPDATE jobs SET state = :s, lease = NULL, error = :e, worker = NULL,
                          run_after = now() + make_interval(secs => :delay),
                          finished_at = CASE WHEN :s = 'failed' THEN now() ELSE NULL END
                    WHERE {_FENCE}"""),
                {"id": claim.id, "lease": claim.lease, "s": QUEUED if again else FAILED, "e": error,
                 "delay": delay}), claim)
        return QUEUED if again else FAILED

    async def _finish(self, claim: Claim, state: str, *, result: dict[str, Any] | None = None,
                      error: str | None = None) -> None:
        async with self.engine.begin() as conn:
            await self._hold(conn, claim)
            await self._log(conn, claim.id, claim.epoch, "info", f"attempt {claim.job.attempts} ended: {state}")
            _fenced(await conn.execute(text(
                f"""UPDATE jobs SET state = :s, lease = NULL, result = CAST(:r AS jsonb), error = :e,
                          finished_at = now(), progress_done = CASE WHEN :s = 'succeeded'
                            THEN coalesce(progress_total, progress_done) ELSE progress_done END
                    WHERE {_FENCE}"""),
                {"id": claim.id, "lease": claim.lease, "s": state, "r": _json(result) if result is not None else None,
                 "e": error}), claim)

    @staticmethod
    async def _hold(conn: AsyncConnection, claim: Claim) -> None:
        """Lock the job row if this claim still holds it, so the rest of the transaction is
        fenced as one: a re-claim waits for it, or it sees the re-claim and is refused."""
        row = (await conn.execute(text(f"SELECT 1 FROM jobs WHERE {_FENCE} FOR UPDATE"),
                                  {"id": claim.id, "lease": claim.lease})).first()
        if row is None:
            raise LeaseLost(f"job {claim.id}: lease of claim {claim.epoch} is no longer held")

    @staticmethod
    async def _log(conn: AsyncConnection, job_id: str, epoch: int, level: str, message: str) -> None:
        await conn.execute(text("INSERT INTO job_logs (job_id, epoch, level, message) VALUES (:j, :e, :l, :m)"),
                           {"j": job_id, "e": epoch, "l": level, "m": message[:4000]})


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()
