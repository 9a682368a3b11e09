"""The `set-indexes` job: converge a tenant's ACL sets' own HNSW indexes
(`knowledge/index/set_indexes.py`) in a worker, so an API write that pushes a set past the
threshold answers at once instead of waiting a minute for a graph build. `hand_over` queues it
only when there is work, and once however many writes ask; it runs in the writer's tenant (its
admins see it, and it touches and reports only their sets); the server runs these jobs itself
(`jobs.serve_types`)."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.governance.principal import Principal, Role
from gureum.jobs.context import JobContext
from gureum.jobs.registry import register
from gureum.jobs.repository import JobRepository
from gureum.knowledge import index

SET_INDEXES = "set-indexes"
# While another maintainer (a CLI ingest, another replica) holds the lock, look again this often:
# it may have read the sets before the write that queued this job.
_LOCK_POLL_SECONDS = 2.0


@register(SET_INDEXES, roles=(Role.ADMIN,))
async def set_indexes(ctx: JobContext) -> dict[str, Any]:
    platform = ctx.platform
    if platform is None:
        raise RuntimeError("set-indexes needs a worker started with the platform")
    engine = platform.store.engine
    builds: list[tuple[int, int]] = []
    tenant = ctx.principal.tenant_id
    while (done := await index.maintain_set_indexes(engine, tenant_id=tenant,
                                                    on_build=lambda s, n: builds.append((s, n)))).skipped:
        await asyncio.sleep(_LOCK_POLL_SECONDS)
    for _, n in builds:
        await ctx.log(f"built the HNSW index of an ACL set of {n:,} chunks")
    if done.dropped:
        await ctx.log(f"dropped {len(done.dropped)} index(es) of sets that shrank or are gone")
    return {"built": len(done.built), "dropped": len(done.dropped), "seconds": round(done.seconds, 3)}


async def hand_over(engine: AsyncEngine, tenant_id: str, max_attempts: int) -> str | None:
    """Queue a `set-indexes` job if the tenant's sets need index work now; the job's id, or None."""
    if not await index.set_indexes_pending(engine, tenant_id=tenant_id):
        return None
    job = await JobRepository(engine).submit(Principal.service(tenant_id, SET_INDEXES), SET_INDEXES, {},
                                             max_attempts=max_attempts, once=True)
    return job.id
