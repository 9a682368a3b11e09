"""Own HNSW indexes for large ACL sets: partial indexes `WHERE acl_set_id = N`, one per set that
holds at least `OWN_INDEX_MIN` chunks, so a caller who may read a few such sets walks small
unfiltered graphs instead of filtering one big one (`dense` plans which walk a query takes).

`maintain()` converges the indexes on the sets as they are now, and is safe to call at any time
and from any replica: it builds with `CREATE INDEX CONCURRENTLY` (reads and writes go on), one
maintainer at a time (a session advisory lock; a second caller returns at once), drops the
invalid index an interrupted build leaves and builds it again, and drops the indexes of sets that
shrank below a quarter of the threshold (the gap keeps a set near the line from flapping) or are
gone. Readers only use an index that is valid, so a build in progress or one that failed is
never half-used: those sets are searched as if they had no index of their own.

The collection-wide index keeps every chunk too, so an own index is an accelerator only; what a
search may return never depends on which indexes exist.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gureum.knowledge.index.dense import OWN_INDEX_PREFIX
from gureum.knowledge.tables import HNSW_WITH

log = logging.getLogger("gureum.knowledge")

# A set this large gets its own graph. Smaller sets are scored exactly while a caller's share
# is small (dense.EXACT_MAX) or found through the shared graph; the floor bounds the number of
# indexes (a collection of N chunks has at most N / OWN_INDEX_MIN), which the planner weighs.
OWN_INDEX_MIN = 5_000
# Graph building is fastest when the graph fits in memory (pgvector builds on disk otherwise,
# several times slower); 384-d float vectors take ~2 KB a node with their links.
BUILD_MEMORY = "1GB"
_LOCK = "gureum:set-indexes"


@dataclass(slots=True)
class Maintained:
    built: list[int] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    skipped: bool = False  # another maintainer was at work
    seconds: float = 0.0


def index_name(set_id: int) -> str:
    return f"{OWN_INDEX_PREFIX}{int(set_id)}"


def own_index_ddl(set_id: int, dims: int) -> str:
    d = int(dims)
    return (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {index_name(set_id)} ON chunks "
        f"USING hnsw ((embedding::vector({d})) vector_cosine_ops) WITH ({HNSW_WITH}) "
        f"WHERE acl_set_id = {int(set_id)}"
    )


@dataclass(slots=True)
class _Plan:
    drop: list[tuple[int, bool]]  # (set id, still wanted: the index is invalid and is built again)
    build: list[tuple[int, int, int]]  # (set id, chunks, dimensions)


async def _plan(conn: AsyncConnection, min_chunks: int, tenant_id: str | None) -> _Plan:
    """What converging takes now; with `tenant_id`, only that tenant's sets (the indexes of sets
    that are gone belong to no tenant and are left to a run over all of them)."""
    existing = {
        int(r.relname[len(OWN_INDEX_PREFIX):]): bool(r.indisvalid)
        for r in await conn.execute(
            text(
                "SELECT ic.relname, i.indisvalid FROM pg_class ic JOIN pg_index i ON i.indexrelid = ic.oid "
                "WHERE i.indrelid = 'chunks'::regclass AND starts_with(ic.relname, :p)"
            ),
            {"p": OWN_INDEX_PREFIX},
        )
        if r.relname[len(OWN_INDEX_PREFIX):].isdigit()
    }
    sets = {
        int(r.id): (int(r.n_chunks), int(r.dimensions))
        for r in await conn.execute(
            text("SELECT s.id, s.n_chunks, c.dimensions FROM acl_sets s JOIN collections c ON c.id = s.collection_id "
                 "WHERE CAST(:t AS text) IS NULL OR c.tenant_id = :t"),
            {"t": tenant_id},
        )
    }
    if tenant_id is not None:
        existing = {sid: valid for sid, valid in existing.items() if sid in sets}
    keep_min = max(1, min_chunks // 4)
    wanted = {sid for sid, (n, _) in sets.items() if n >= min_chunks or (existing.get(sid) and n >= keep_min)}
    drop = [(sid, sid in wanted) for sid, valid in sorted(existing.items()) if sid not in wanted or not valid]
    build = [(sid, *sets[sid]) for sid in sorted(wanted) if not existing.get(sid)]
    return _Plan(drop, build)


async def pending(engine: AsyncEngine, *, min_chunks: int | None = None, tenant_id: str | None = None) -> bool:
    """Whether `maintain` would build or drop an index now (a cheap catalog read), so a caller that
    hands the work to a job queues one only when there is work."""
    async with engine.connect() as conn:
        plan = await _plan(conn, OWN_INDEX_MIN if min_chunks is None else min_chunks, tenant_id)
    return bool(plan.drop or plan.build)


async def maintain(
    engine: AsyncEngine, *, min_chunks: int | None = None, on_build: Callable[[int, int], None] | None = None,
    tenant_id: str | None = None,
) -> Maintained:
    """Build the own indexes that sets of `min_chunks` (default `OWN_INDEX_MIN`) or more lack,
    drop those no set needs (of one tenant's sets with `tenant_id`); `on_build(set_id, n_chunks)`
    is told before each build (a build of 100k chunks takes about a minute here)."""
    min_chunks = OWN_INDEX_MIN if min_chunks is None else min_chunks
    started = time.perf_counter()
    out = Maintained()
    async with engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if not (await conn.execute(text("SELECT pg_try_advisory_lock(hashtext(:k))"), {"k": _LOCK})).scalar():
            out.skipped = True
            return out
        try:
            plan = await _plan(conn, min_chunks, tenant_id)
            for sid, still_wanted in plan.drop:
                await conn.execute(text(f"DROP INDEX CONCURRENTLY IF EXISTS {index_name(sid)}"))
                if not still_wanted:
                    out.dropped.append(sid)
            if plan.build:
                await conn.execute(text(f"SET maintenance_work_mem = '{BUILD_MEMORY}'"))
            for sid, n, dims in plan.build:
                if on_build:
                    on_build(sid, n)
                log.info("building the HNSW index of ACL set %d (%d chunks)", sid, n)
                await conn.execute(text(own_index_ddl(sid, dims)))
                out.built.append(sid)
            if plan.build:
                # The planner weighs a walk of the new index by the set's size: let it know it.
                await conn.execute(text("ANALYZE chunks"))
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(hashtext(:k))"), {"k": _LOCK})
    out.seconds = time.perf_counter() - started
    return out


__all__ = ["OWN_INDEX_MIN", "Maintained", "index_name", "maintain", "own_index_ddl", "pending"]
