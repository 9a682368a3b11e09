"""A worker: claims jobs, runs each beside a heartbeat that renews its lease, and ends it with a
fenced write. Several run at once in one process (`concurrency`) and in as many processes and
machines as share the store. A job whose lease is lost (another worker claimed it after this one
was presumed dead) is abandoned without writing anything more."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import traceback
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.jobs import registry
from gureum.jobs.checkpoints import Checkpoints
from gureum.jobs.context import JobContext
from gureum.jobs.repository import Claim, JobRepository, LeaseLost
from gureum.jobs.settings import JobSettings
from gureum.store.engine import UNREACHABLE

log = logging.getLogger("gureum.jobs")


class Worker:
    def __init__(self, engine: AsyncEngine, settings: JobSettings, data_dir: Path, *, platform: Any | None = None,
                 name: str | None = None, types: list[str] | None = None) -> None:
        self.repo = JobRepository(engine)
        self.settings, self.platform = settings, platform
        self.root = data_dir / "jobs"
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.types = types

    async def run(self, stop: asyncio.Event | None = None, *, max_jobs: int | None = None) -> int:
        """Run jobs until `stop` is set (or `max_jobs` have ended); returns how many ended."""
        stop = stop or asyncio.Event()
        running: set[asyncio.Task[None]] = set()
        started = 0
        while not stop.is_set() and (max_jobs is None or started < max_jobs):
            claim = None
            if len(running) < self.settings.concurrency:
                try:
                    claim = await self.repo.claim(self.name, self.types or registry.types(),
                                                  self.settings.lease_seconds)
                except UNREACHABLE as exc:
                    log.warning("jobs: store unreachable, retrying: %s", exc)
            if claim is not None:
                started += 1
                task = asyncio.create_task(self.execute(claim), name=f"job-{claim.id}")
                running.add(task)
                task.add_done_callback(running.discard)
                continue
            waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(stop.wait()), *running]
            done, _ = await asyncio.wait(waits, timeout=self.settings.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            if waits[0] not in done:
                waits[0].cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        return started

    async def execute(self, claim: Claim) -> None:
        job = claim.job
        fn = registry.handler(job.type)
        try:
            if fn is None:
                await self.repo.fail(claim, f"no handler for job type '{job.type}' on worker {self.name}",
                                     backoff=0, backoff_max=0, retriable=False)
                return
            workdir = self.root / job.id
            checkpoints = Checkpoints(self.repo, claim, workdir / "checkpoints", self.settings.checkpoints_kept)
            restored = await checkpoints.load()
            if restored is not None:
                await self.repo.log(claim, "info", f"resuming from checkpoint {checkpoints.seq}")
            ctx = JobContext(self.repo, claim, workdir, checkpoints, restored, self.platform)
            try:
                await self._supervise(claim, ctx, fn)
            finally:
                ctx.close()
        except LeaseLost as exc:
            log.warning("jobs: %s; abandoning it", exc)
        except Exception as exc:  # noqa: BLE001 - a job's failure is its state, never the worker's end
            try:
                await self.repo.fail(claim, f"{type(exc).__name__}: {exc}", backoff=self.settings.backoff_seconds,
                                     backoff_max=self.settings.backoff_max_seconds,
                                     retriable=getattr(exc, "retriable", True))
            except LeaseLost as lost:
                log.warning("jobs: %s failed after its lease moved on (%s); the newer attempt decides", job.id, lost)
            log.debug("jobs: %s failed:\n%s", job.id, traceback.format_exc())

    async def _supervise(self, claim: Claim, ctx: JobContext, fn: registry.Handler) -> None:
        work = asyncio.create_task(fn(ctx))
        beat = asyncio.create_task(self._heartbeat(claim, work))
        try:
            result = await work
        except asyncio.CancelledError:
            reason = beat.result() if beat.done() and not beat.cancelled() else None
            if reason == "cancel":
                await self.repo.cancelled(claim)
                return
            if reason == "lost":
                raise LeaseLost(f"job {claim.id}: lease of claim {claim.epoch} lost during the run") from None
            raise
        finally:
            if not beat.done():
                beat.cancel()
        ctx.sync_artifacts()
        await self.repo.succeed(claim, result)

    async def _heartbeat(self, claim: Claim, work: asyncio.Task[Any]) -> str | None:
        while not work.done():
            await asyncio.sleep(self.settings.heartbeat_seconds)
            try:
                if await self.repo.heartbeat(claim, self.settings.lease_seconds):
                    work.cancel()
                    return "cancel"
            except LeaseLost:
                work.cancel()
                return "lost"
            except UNREACHABLE as exc:
                # The lease may expire meanwhile; that is the store's decision, not ours.
                log.warning("jobs: heartbeat of %s failed: %s", claim.id, exc)
        return None
