"""Where one query's dense (ANN) candidates come from: a plan over the ACL sets the caller may read.

One HNSW graph over a whole collection serves a caller who may read a small share of it poorly:
pgvector walks the graph in distance order and drops every row the ACL filter rejects, so the
walk spends its `ef_search` budget on rows the caller never sees, and on a large collection the
true nearest readable chunks are missed (at 1M chunks with 20% readable, recall@10 0.3–0.7).
So the dense search is planned per query from the caller's readable ACL sets:

* a set that has its own partial HNSW index (`set_indexes`, made once a set is large) is
  searched unfiltered, in a graph of that set's chunks only;
* readable sets without one are scored exactly when they hold at most `EXACT_MAX` chunks in all
  and at most `EXACT_SHARE` of the collection — for a small readable share a scan is as fast as
  a graph walk and never misses, where a filtered walk rejects most of what it visits;
* otherwise they share the collection's own index, filtered to those sets (a walk that rejects
  little finds the true neighbours: a small collection read almost whole is walked).

The parts' candidates are merged by exact distance. Every part selects from `readable_chunks()`
(the `readable` CTE), so a plan can only narrow what the base query allows, never widen it: a
plan gone stale between its two statements (an ACL change) loses candidates, never leaks one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from gureum.knowledge.index.scope import Scope, may_read

# Readable chunks scored exactly, without a graph, when nothing better applies. A scan reads
# each chunk's heap page (~4 µs a chunk here once a set is spread over the table, measured in
# bench/query_latency.py): 2,000 cost what a filtered walk of a large shared graph costs, with
# recall 1, where such a walk over so small a share of the collection misses neighbours.
EXACT_MAX = 2_000
# ... and only while they are at most this share of the collection: a filtered walk that rejects
# less than half of what it visits is as exact and, on a small collection, a little cheaper.
EXACT_SHARE = 0.5
# More own-index sets than this in one query and the caller reads a large share of the
# collection, which the shared index serves well filtered; one walk per set would cost more.
MAX_OWN_SCANS = 8

OWN_INDEX_PREFIX = "chunks_hnsw_set_"

# HNSW candidate list (`hnsw.ef_search`) of every walk, raised to the candidates wanted. At 1M
# chunks an own-index walk reaches recall@10 0.996 with it on clustered vectors, where 64 gave
# 0.983 there but 0.72 instead of 0.82 on vectors shaped like e5's (docs/benchmarks.md).
EF_SEARCH = 100


@dataclass(frozen=True, slots=True)
class ReadableSet:
    id: int
    n_chunks: int
    own_index: bool


@dataclass(frozen=True, slots=True)
class DensePlan:
    own: tuple[int, ...] = ()  # sets walked in their own index, unfiltered
    exact: tuple[int, ...] = ()  # sets scored exactly
    shared: tuple[int, ...] = ()  # sets searched in the collection-wide index, filtered to them

    def params(self) -> dict[str, Any]:
        return {"own_sets": list(self.own), "exact_sets": list(self.exact)}


def plan(sets: Iterable[ReadableSet], *, collection_chunks: int | None = None, exact_max: int | None = None,
         own_indexes: bool = True) -> DensePlan:
    """The plan for a caller who may read `sets` of a collection of `collection_chunks` (None:
    unknown, every readable share counts as small). `exact_max` defaults to `EXACT_MAX`;
    `own_indexes=False` ignores the sets' own indexes (the benchmark's comparison)."""
    exact_max = EXACT_MAX if exact_max is None else exact_max

    def scan(part: list[ReadableSet]) -> bool:
        n = sum(s.n_chunks for s in part)
        return n <= exact_max and (collection_chunks is None or n <= collection_chunks * EXACT_SHARE)

    live = [s for s in sets if s.n_chunks > 0]
    if scan(live):
        return DensePlan(exact=tuple(s.id for s in live))
    own = [s for s in live if s.own_index] if own_indexes else []
    if len(own) > MAX_OWN_SCANS:
        own = []
    rest = [s for s in live if s not in own]
    ids = tuple(s.id for s in rest)
    if scan(rest):
        return DensePlan(own=tuple(s.id for s in own), exact=ids)
    return DensePlan(own=tuple(s.id for s in own), shared=ids)


async def plan_for(conn: AsyncConnection, scope: Scope, *, exact_max: int | None = None,
                   own_indexes: bool = True) -> DensePlan:
    """The plan for `scope` now, from the ACL sets it may read — their sizes and whether their
    own index is usable (built and valid: an interrupted concurrent build leaves an invalid one
    behind) — and the collection's size."""
    rows = (await conn.execute(
        text(
            "SELECT s.id, s.n_chunks, EXISTS (SELECT 1 FROM pg_class ic JOIN pg_index i ON i.indexrelid = ic.oid "
            f"WHERE ic.relname = '{OWN_INDEX_PREFIX}' || s.id AND i.indisvalid AND i.indisready) AS own_index, "
            "(SELECT sum(a.n_chunks) FROM acl_sets a WHERE a.collection_id = :collection) AS collection_chunks "
            f"FROM acl_sets s WHERE s.collection_id = :collection AND {may_read('s')}"
        ),
        scope.params(),
    )).all()
    sets = [ReadableSet(int(r.id), int(r.n_chunks), bool(r.own_index)) for r in rows]
    total = int(rows[0].collection_chunks) if rows else 0
    return plan(sets, collection_chunks=total, exact_max=exact_max, own_indexes=own_indexes)


def candidates_sql(dense: DensePlan, dims: int) -> str:
    """`SELECT chunk_id, dist` of the plan's best `:n_dense` candidates, nearest first, over the
    `readable` CTE (the base query) that the enclosing statement defines."""
    q = f"CAST(:qvec AS vector({int(dims)}))"
    dist = f"r.embedding <=> {q}"
    head = f"SELECT r.id AS chunk_id, {dist} AS dist FROM readable r WHERE"
    # A set id is a literal, not a parameter: the planner proves a partial index's predicate
    # (`acl_set_id = N`) from literals only.
    parts = [f"({head} r.acl_set_id = {int(s)} ORDER BY {dist} LIMIT :n_dense)" for s in dense.own]
    if dense.exact:
        # `+ 0` keeps the planner off every HNSW index: these rows are scored exactly.
        parts.append(f"({head} r.acl_set_id = ANY(CAST(:exact_sets AS bigint[])) ORDER BY ({dist}) + 0 LIMIT :n_dense)")
    if dense.shared:
        # The shared part is every readable set without a part of its own; `<> ALL` (which no
        # btree serves) keeps the planner on the graph instead of a scan of the sets' rows.
        parts.append(f"({head} r.acl_set_id <> ALL(CAST(:own_sets AS bigint[])) ORDER BY {dist} LIMIT :n_dense)")
    if not parts:
        return "SELECT NULL::bigint AS chunk_id, NULL::float8 AS dist WHERE false"
    # A relaxed-order walk returns its rows nearly sorted; the merge sorts them exactly.
    return f"SELECT chunk_id, dist FROM ({' UNION ALL '.join(parts)}) parts ORDER BY dist, chunk_id LIMIT :n_dense"


__all__ = ["EF_SEARCH", "EXACT_MAX", "EXACT_SHARE", "MAX_OWN_SCANS", "OWN_INDEX_PREFIX", "DensePlan",
           "ReadableSet", "candidates_sql", "plan", "plan_for"]
