"""Dense search plans and the own HNSW indexes of large ACL sets, on a real PostgreSQL.

The corpus is written through the product's write path with random vectors: three ACL sets of
300, 300 and 60 chunks, so a threshold of 200 gives the first two their own indexes. At this
size an HNSW walk with ef_search 100 finds the true neighbours, so every plan must return the
exact answer — and never a chunk outside the caller's ACL."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from sqlalchemy import text

from gureum.config import Settings
from gureum.knowledge import collections, index
from gureum.knowledge.documents import ChunkDraft
from gureum.knowledge.index import dense, set_indexes
from gureum.knowledge.index.dense import DensePlan, ReadableSet
from gureum.store import Store

MIN = 200
SIZES = {"group:a": 300, "group:b": 300, "group:c": 60}
RNG = np.random.default_rng(5)


def test_small_readable_shares_are_scored_exactly() -> None:
    sets = [ReadableSet(1, 5_000, True), ReadableSet(2, 3_000, False), ReadableSet(3, 0, True)]
    assert dense.plan(sets, exact_max=10_000) == DensePlan(exact=(1, 2))


def test_a_share_read_almost_whole_is_walked_not_scanned() -> None:
    sets = [ReadableSet(1, 600, False), ReadableSet(2, 100, False)]
    assert dense.plan(sets, collection_chunks=800, exact_max=10_000) == DensePlan(shared=(1, 2))
    assert dense.plan(sets[1:], collection_chunks=800, exact_max=10_000) == DensePlan(exact=(2,))
    big = ReadableSet(3, 50_000, True)
    assert dense.plan([big, sets[1]], collection_chunks=60_000, exact_max=10_000) == DensePlan(own=(3,), exact=(2,))


def test_own_indexes_then_exact_or_shared_for_the_rest() -> None:
    big, small = ReadableSet(1, 50_000, True), ReadableSet(2, 3_000, False)
    assert dense.plan([big, small], exact_max=10_000) == DensePlan(own=(1,), exact=(2,))
    assert dense.plan([big, small], exact_max=1_000) == DensePlan(own=(1,), shared=(2,))
    assert dense.plan([big, small], exact_max=1_000, own_indexes=False) == DensePlan(shared=(1, 2))


def test_many_own_index_sets_share_the_collection_index() -> None:
    sets = [ReadableSet(i, 30_000, True) for i in range(dense.MAX_OWN_SCANS + 1)]
    assert dense.plan(sets, exact_max=10_000) == DensePlan(shared=tuple(range(dense.MAX_OWN_SCANS + 1)))
    assert dense.plan(sets[:2], exact_max=10_000) == DensePlan(own=(0, 1))


def test_nothing_readable_is_an_empty_part() -> None:
    assert dense.plan([]) == DensePlan()
    assert "WHERE false" in dense.candidates_sql(DensePlan(), 384)


def _unit(n: int, dims: int) -> np.ndarray:
    v = RNG.standard_normal((n, dims)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.fixture(scope="module")
async def col(store: Store, kn_settings: Settings) -> collections.Collection:
    c = await collections.create(store.engine, kn_settings, "t1", "sets")
    docs = []
    for principal, n in SIZES.items():
        vecs = _unit(n, c.dimensions)
        for j in range(n):
            row = index.ChunkRow(ChunkDraft(0, f"{principal} chunk {j}", [], None, 0, 0, 5),
                                 Counter({f"w{j % 7}": 1, principal.split(":")[1]: 1}), [], vecs[j], vecs[j][None, :])
            docs.append(index.DocumentRow(f"{principal}/{j}", "", "text/plain", f"h{principal}{j}", [principal],
                                          "source", None, {}, [row]))
    await index.replace_documents(store.engine, c.tenant_id, c.id, c.dimensions, docs)
    return c


async def _own_indexes(store: Store) -> dict[str, bool]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT ic.relname, i.indisvalid FROM pg_class ic JOIN pg_index i ON i.indexrelid = ic.oid "
            "WHERE starts_with(ic.relname, 'chunks_hnsw_set_')"))
        return {r.relname: r.indisvalid for r in rows}


async def _set_id(store: Store, col: collections.Collection, principal: str) -> int:
    async with store.engine.connect() as conn:
        return int((await conn.execute(text("SELECT id FROM acl_sets WHERE collection_id = :c AND acl = ARRAY[:p]"),
                                       {"c": col.id, "p": principal})).scalar_one())


async def _chunk_sets(store: Store, ids: list[int]) -> set[str]:
    async with store.engine.connect() as conn:
        rows = await conn.execute(text("SELECT DISTINCT acl[1] AS p FROM chunks WHERE id = ANY(:ids)"), {"ids": ids})
        return {r.p for r in rows}


async def test_large_sets_get_their_own_valid_index(store: Store, col: collections.Collection) -> None:
    done = await index.maintain_set_indexes(store.engine, min_chunks=MIN)
    a, b, c = [await _set_id(store, col, p) for p in SIZES]
    assert sorted(done.built) == sorted([a, b])
    assert await _own_indexes(store) == {set_indexes.index_name(a): True, set_indexes.index_name(b): True}
    again = await index.maintain_set_indexes(store.engine, min_chunks=MIN)
    assert again.built == [] and again.dropped == []
    scope = collections.scope(col, ["group:a", "group:c"])
    assert await index.dense_plan(store.engine, scope, exact_max=0) == DensePlan(own=(a,), shared=(c,))
    assert await index.dense_plan(store.engine, scope, exact_max=100) == DensePlan(own=(a,), exact=(c,))


async def test_the_planner_walks_the_sets_own_index(store: Store, col: collections.Collection) -> None:
    """The set's partial index answers its part rather than the shared index. (At 300 rows a sort
    is honestly cheaper than any walk, so sorts are priced out to see which index wins.)"""
    await index.maintain_set_indexes(store.engine, min_chunks=MIN)
    a = await _set_id(store, col, "group:a")
    scope = collections.scope(col, ["group:a"])
    sql = (f"EXPLAIN WITH readable AS NOT MATERIALIZED ({index.readable_chunks(scope)}) "
           f"{dense.candidates_sql(DensePlan(own=(a,)), col.dimensions)}")
    async with store.engine.connect() as conn, conn.begin():
        await conn.execute(text("SET LOCAL enable_sort = off"))
        plan = "\n".join(r[0] for r in await conn.execute(
            text(sql), {**scope.params(), "qvec": index.vector_literal(_unit(1, col.dimensions)[0]), "n_dense": 10}))
    assert f"Index Scan using {set_indexes.index_name(a)} on chunks" in plan
    assert "chunks_embedding_hnsw" not in plan


@pytest.mark.parametrize("exact_max", [0, 100, 10_000])
async def test_every_plan_finds_the_exact_neighbours_and_only_readable_ones(
    store: Store, col: collections.Collection, exact_max: int
) -> None:
    await index.maintain_set_indexes(store.engine, min_chunks=MIN)
    for principals in (["group:a", "group:c"], ["group:b"], ["group:c"]):
        scope = collections.scope(col, principals)
        for q in _unit(5, col.dimensions):
            exact = await index.exact_dense(store.engine, scope, q, 10)
            ann = await index.ann_dense(store.engine, scope, q, 10, exact_max=exact_max)
            assert ann == exact
            assert await _chunk_sets(store, ann) <= set(principals)
            hits = await index.search(store.engine, scope, terms=["w1"], query_vector=q, k=10, candidates=20,
                                      w_lexical=1.0, w_dense=1.0, exact_max=exact_max)
            assert len(hits) == 10 and await _chunk_sets(store, [h.chunk_id for h in hits]) <= set(principals)


async def test_an_acl_change_leaves_the_old_sets_index_at_once(store: Store, col: collections.Collection) -> None:
    await index.maintain_set_indexes(store.engine, min_chunks=MIN)
    scope_a = collections.scope(col, ["group:a"])
    q = _unit(1, col.dimensions)[0]
    nearest = (await index.ann_dense(store.engine, scope_a, q, 1, exact_max=0))[0]
    async with store.engine.connect() as conn:
        doc_id = int((await conn.execute(text("SELECT document_id FROM chunks WHERE id = :i"), {"i": nearest})).scalar_one())
    assert await index.set_document_acl(store.engine, col.id, doc_id, ["group:z"], "admin")
    try:
        assert nearest not in await index.ann_dense(store.engine, scope_a, q, 50, exact_max=0)
        assert nearest in await index.ann_dense(store.engine, collections.scope(col, ["group:z"]), q, 1, exact_max=0)
    finally:
        assert await index.set_document_acl(store.engine, col.id, doc_id, ["group:a"], "source")


async def test_an_interrupted_build_is_ignored_then_rebuilt(store: Store, col: collections.Collection) -> None:
    await index.maintain_set_indexes(store.engine, min_chunks=MIN)
    b = await _set_id(store, col, "group:b")
    name = set_indexes.index_name(b)
    # What a killed CREATE INDEX CONCURRENTLY leaves behind: the index, marked invalid.
    async with store.engine.begin() as conn:
        await conn.execute(text("UPDATE pg_index SET indisvalid = false WHERE indexrelid = CAST(:n AS regclass)"),
                           {"n": name})
    scope = collections.scope(col, ["group:b"])
    assert await index.dense_plan(store.engine, scope, exact_max=0) == DensePlan(shared=(b,))
    q = _unit(1, col.dimensions)[0]
    assert await index.ann_dense(store.engine, scope, q, 10, exact_max=0) == await index.exact_dense(
        store.engine, scope, q, 10)
    done = await index.maintain_set_indexes(store.engine, min_chunks=MIN)
    assert done.built == [b] and (await _own_indexes(store))[name] is True
    assert await index.dense_plan(store.engine, scope, exact_max=0) == DensePlan(own=(b,))


async def test_one_maintainer_at_a_time(store: Store) -> None:
    async with store.engine.connect() as conn:
        await conn.execute(text("SELECT pg_advisory_lock(hashtext('gureum:set-indexes'))"))
        try:
            assert (await index.maintain_set_indexes(store.engine, min_chunks=MIN)).skipped
        finally:
            await conn.execute(text("SELECT pg_advisory_unlock(hashtext('gureum:set-indexes'))"))
            await conn.commit()
    assert not (await index.maintain_set_indexes(store.engine, min_chunks=MIN)).skipped


async def test_shrunk_and_deleted_sets_lose_their_index(store: Store, kn_settings: Settings,
                                                        col: collections.Collection) -> None:
    await index.maintain_set_indexes(store.engine, min_chunks=MIN)
    a, b = await _set_id(store, col, "group:a"), await _set_id(store, col, "group:b")
    # Below the threshold but above a quarter of it, a set keeps its index (no flapping) …
    await index.delete_documents_by_uri(store.engine, col.id, [f"group:a/{j}" for j in range(150)])
    assert (await index.maintain_set_indexes(store.engine, min_chunks=MIN)).dropped == []
    # … and loses it below a quarter.
    await index.delete_documents_by_uri(store.engine, col.id, [f"group:a/{j}" for j in range(150, 260)])
    assert (await index.maintain_set_indexes(store.engine, min_chunks=MIN)).dropped == [a]
    assert await index.dense_plan(store.engine, collections.scope(col, ["group:a"]), exact_max=0) == DensePlan(
        shared=(a,))
    await collections.delete(store.engine, col)
    assert set_indexes.index_name(b) not in await _own_indexes(store)
