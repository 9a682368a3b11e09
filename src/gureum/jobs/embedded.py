"""The worker inside `gureum serve`: it runs the job types of `jobs.serve_types` (by default the
index builds API writes hand over), one at a time, so a single machine needs no second process
for them. Stopping the server stops it: a running job gets a few seconds to end, then it is
cancelled, and its lease lapses for another worker to claim it again."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import gureum.jobs.builtin  # noqa: F401 - the types the server may run must be registered
from gureum.jobs import registry
from gureum.jobs.worker import Worker
from gureum.platform import Platform

log = logging.getLogger("gureum.jobs")
_STOP_GRACE_SECONDS = 5.0


@dataclass(slots=True)
class ServedJobs:
    stopping: asyncio.Event
    task: asyncio.Task[int] | None

    async def stop(self) -> None:
        if self.task is None:
            return
        self.stopping.set()
        try:
            await asyncio.wait_for(asyncio.shield(self.task), _STOP_GRACE_SECONDS)
        except TimeoutError:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        except Exception:  # noqa: BLE001 - the server stops either way; say why its worker had ended
            log.exception("the server's job worker had stopped")


def serve_jobs(platform: Platform) -> ServedJobs:
    s = platform.settings
    types = [t for t in s.jobs.serve_types if registry.get(t) is not None]
    if unknown := sorted(set(s.jobs.serve_types) - set(types)):
        log.error("jobs.serve_types names unknown job types %s (known: %s); the server does not run them",
                  ", ".join(unknown), ", ".join(registry.types()))
    stopping = asyncio.Event()
    if not types:
        return ServedJobs(stopping, None)
    settings = s.jobs.model_copy(update={"concurrency": 1})
    worker = Worker(platform.store.engine, settings, s.data_dir, platform=platform, types=types)
    return ServedJobs(stopping, asyncio.create_task(worker.run(stopping), name="gureum-served-jobs"))
