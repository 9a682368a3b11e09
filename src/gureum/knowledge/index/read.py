"""The read path: hybrid search (BM25 + ANN, fused in one statement), the exact and ANN dense
helpers recall is measured with, and document lookups. Where the ANN candidates come from is
planned per query from the caller's readable ACL sets (`dense`). Every read made for a caller starts from
`readable_chunks()`; `managed_document` is the tenant admin's lookup, tenant-scoped only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gureum.knowledge.index import dense
from gureum.knowledge.index.scope import (
    Scope,
    readable_chunks,
    readable_sets,
    vector_literal,
)

# BM25 (Robertson/Spärck Jones; Lucene's defaults and idf).
K1 = 1.2
B = 0.75
# Lexical candidates come from the postings of the query's "essential" terms (MaxScore's idea):
# the rarest term, and every term in at most this share of the readable chunks (or this many).
# Very common terms still count fully in every candidate's exact BM25 score; they only do not
# nominate candidates by themselves, which spares reading postings lists of half the index.
ESSENTIAL_FRACTION = 0.05
ESSENTIAL_MIN = 5000


_DOC_COLS = (
    "d.id, d.uri, d.title, d.media_type, d.content_hash, d.acl, d.acl_source, d.residency, d.pii_types, d.n_chunks, "
    "d.tokens, d.metadata, d.created_at, d.updated_at"
)


async def readable_document(engine: AsyncEngine, scope: Scope, doc_id: int) -> dict[str, Any] | None:
    """A document the caller may read (it has a readable chunk: the base query decides), else
    None — the same None whether it is missing or forbidden."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(
                    f"WITH readable AS NOT MATERIALIZED ({readable_chunks(scope)}) SELECT {_DOC_COLS} FROM documents d "
                    "WHERE d.id = :doc AND d.collection_id = :collection AND d.tenant_id = :tenant "
                    "AND EXISTS (SELECT 1 FROM readable r WHERE r.document_id = d.id)"
                ),
                {**scope.params(), "doc": doc_id},
            )
        ).mappings().one_or_none()
    return dict(row) if row else None


async def readable_documents(
    engine: AsyncEngine, scope: Scope, limit: int = 100, after: int | None = None
) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    f"WITH readable AS NOT MATERIALIZED ({readable_chunks(scope)}) SELECT {_DOC_COLS} FROM documents d "
                    "WHERE d.collection_id = :collection AND d.tenant_id = :tenant AND d.id > :after "
                    "AND EXISTS (SELECT 1 FROM readable r WHERE r.document_id = d.id) ORDER BY d.id LIMIT :lim"
                ),
                {**scope.params(), "after": after or 0, "lim": limit},
            )
        ).mappings().all()
    return [dict(r) for r in rows]


async def managed_document(engine: AsyncEngine, tenant_id: str, collection_id: str, doc_id: int) -> dict[str, Any] | None:
    """A document for a tenant admin managing the collection (no ACL filter, tenant-scoped)."""
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(f"SELECT {_DOC_COLS} FROM documents d WHERE d.id = :doc AND d.collection_id = :c AND d.tenant_id = :t"),
                {"doc": doc_id, "c": collection_id, "t": tenant_id},
            )
        ).mappings().one_or_none()
    return dict(row) if row else None


@dataclass(slots=True)
class Hit:
    chunk_id: int
    document_id: int
    score: float
    lexical: float
    dense: float
    text: str
    uri: str
    title: str
    heading_path: list[str]
    page: int | None
    start: int
    end: int
    ordinal: int
    pii_types: list[str]
    residency: str | None
    vector: np.ndarray | None = None


def _search_sql(scope: Scope, plan: dense.DensePlan, with_vectors: bool, sentences: bool) -> str:
    d = int(scope.dims)
    dense_expr = (
        f"coalesce(se.best, 1 - (r.embedding <=> CAST(:qvec AS vector({d}))))"
        if sentences else f"1 - (r.embedding <=> CAST(:qvec AS vector({d})))"
    )
    sent_cte = (
        f"sent AS (SELECT cs.chunk_id, max(1 - (cs.embedding::vector({d}) <=> CAST(:qvec AS vector({d})))) AS best "
        "FROM chunk_sentences cs JOIN cand ON cand.chunk_id = cs.chunk_id GROUP BY cs.chunk_id),"
        if sentences else "sent AS (SELECT NULL::bigint AS chunk_id, NULL::float8 AS best WHERE false),"
    )
    vec_col = ", r.embedding::text AS vec" if with_vectors else ""
    return f"""
WITH readable AS NOT MATERIALIZED ({readable_chunks(scope)}),
sets AS ({readable_sets()}),
stats AS (
  SELECT greatest(coalesce(sum(n_chunks), 0), 1)::float8 AS n,
         greatest(coalesce(sum(total_len), 0)::float8 / greatest(coalesce(sum(n_chunks), 0), 1), 1.0) AS avgdl
  FROM sets),
idf AS (
  SELECT ts.term, sum(ts.df) AS df, ln(1 + (st.n - sum(ts.df) + 0.5) / (sum(ts.df) + 0.5)) AS w
  FROM term_stats ts JOIN sets ON sets.id = ts.acl_set_id CROSS JOIN stats st
  WHERE ts.collection_id = :collection AND ts.term = ANY(CAST(:terms AS text[]))
  GROUP BY ts.term, st.n HAVING sum(ts.df) > 0),
essential AS (
  SELECT term, w FROM (SELECT term, w, df, row_number() OVER (ORDER BY df, term) AS rn FROM idf) x
  WHERE rn = 1 OR df <= greatest({ESSENTIAL_MIN}, (SELECT n FROM stats) * {ESSENTIAL_FRACTION})),
lex_part AS (
  SELECT ct.chunk_id, sum(e.w * ct.tf * ({K1} + 1) / (ct.tf + {K1} * (1 - {B} + {B} * ct.dl / st.avgdl))) AS score
  FROM chunk_terms ct JOIN essential e ON e.term = ct.term CROSS JOIN stats st
  WHERE ct.collection_id = :collection AND ct.acl_set_id IN (SELECT id FROM sets)
  GROUP BY ct.chunk_id),
lex AS (SELECT chunk_id FROM lex_part ORDER BY score DESC LIMIT :n_lex),
dense AS (SELECT chunk_id FROM ({dense.candidates_sql(plan, d)}) nearest),
cand AS (SELECT chunk_id FROM lex UNION SELECT chunk_id FROM dense),
lex_all AS (
  SELECT ct.chunk_id, sum(idf.w * ct.tf * ({K1} + 1) / (ct.tf + {K1} * (1 - {B} + {B} * ct.dl / st.avgdl))) AS score
  FROM chunk_terms ct JOIN idf ON idf.term = ct.term CROSS JOIN stats st
  WHERE ct.collection_id = :collection AND ct.term = ANY(CAST(:terms AS text[]))
    AND ct.chunk_id IN (SELECT chunk_id FROM cand)
  GROUP BY ct.chunk_id),
{sent_cte}
scored AS (
  SELECT cand.chunk_id, coalesce(la.score, 0)::float8 AS lexical, ({dense_expr})::float8 AS dense{vec_col}
  FROM cand JOIN readable r ON r.id = cand.chunk_id LEFT JOIN lex_all la ON la.chunk_id = cand.chunk_id
  LEFT JOIN sent se ON se.chunk_id = cand.chunk_id),
fused AS (
  SELECT *, :w_lex * coalesce((lexical - avg(lexical) OVER ()) / nullif(stddev_pop(lexical) OVER (), 0), 0)
          + :w_dense * coalesce((dense - avg(dense) OVER ()) / nullif(stddev_pop(dense) OVER (), 0), 0) AS score
  FROM scored)
SELECT f.chunk_id, c.document_id, f.score, f.lexical, f.dense, c.text, doc.uri, doc.title, c.heading_path, c.page,
       c.start_offset, c.end_offset, c.ordinal, c.pii_types, doc.residency{', f.vec' if with_vectors else ''}
FROM fused f JOIN chunks c ON c.id = f.chunk_id JOIN documents doc ON doc.id = c.document_id
ORDER BY f.score DESC, f.chunk_id LIMIT :k
"""


async def search(
    engine: AsyncEngine,
    scope: Scope,
    *,
    terms: Sequence[str],
    query_vector: np.ndarray,
    k: int,
    candidates: int,
    w_lexical: float,
    w_dense: float,
    ef_search: int | None = None,
    with_vectors: bool = False,
    sentences: bool = True,
    exact_max: int | None = None,
    own_indexes: bool = True,
) -> list[Hit]:
    """Hybrid search in one statement: BM25 top-n and ANN top-n (chunk vectors, planned by
    `dense.plan`) over the readable chunks; for every candidate both scores are computed exactly —
    the dense score is its best sentence's cosine (`sentences=True`) or the chunk vector's — and
    fused as a weighted sum of per-query z-normalised scores. A weight of 0 turns a retriever off."""
    params = {
        **scope.params(),
        "terms": sorted(set(terms)),
        "qvec": vector_literal(query_vector),
        "n_lex": candidates if w_lexical > 0 else 0,
        "n_dense": candidates if w_dense > 0 else 0,
        "w_lex": float(w_lexical),
        "w_dense": float(w_dense),
        "k": k,
    }
    async with engine.connect() as conn, conn.begin():
        ef = max(ef_search or dense.EF_SEARCH, candidates)
        plan = await _plan_walks(conn, scope, w_dense > 0, exact_max, own_indexes, ef)
        rows = (await conn.execute(text(_search_sql(scope, plan, with_vectors, sentences)),
                                   {**params, **plan.params()})).all()
    hits = []
    for r in rows:
        vec = np.array(r.vec[1:-1].split(","), dtype=np.float32) if with_vectors else None
        hits.append(
            Hit(int(r.chunk_id), int(r.document_id), float(r.score), float(r.lexical), float(r.dense), r.text, r.uri,
                r.title, list(r.heading_path or []), r.page, int(r.start_offset), int(r.end_offset), int(r.ordinal),
                list(r.pii_types or []), r.residency, vec)
        )
    return hits


async def readable_chunk_count(engine: AsyncEngine, scope: Scope) -> int:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text(f"WITH readable AS NOT MATERIALIZED ({readable_chunks(scope)}) SELECT count(*) AS n FROM readable"),
                scope.params(),
            )
        ).one()
    return int(row.n)


async def exact_dense(engine: AsyncEngine, scope: Scope, query_vector: np.ndarray, k: int) -> list[int]:
    """Exact nearest neighbours (no index) — the reference for ANN recall."""
    d = int(scope.dims)
    async with engine.connect() as conn, conn.begin():
        await conn.execute(text("SET LOCAL enable_indexscan = off"))
        rows = await conn.execute(
            text(
                f"WITH readable AS MATERIALIZED ({readable_chunks(scope)}) SELECT id FROM readable "
                f"ORDER BY embedding <=> CAST(:qvec AS vector({d})) LIMIT :k"
            ),
            {**scope.params(), "qvec": vector_literal(query_vector), "k": k},
        )
        return [int(r.id) for r in rows]


async def ann_dense(
    engine: AsyncEngine, scope: Scope, query_vector: np.ndarray, k: int, ef_search: int | None = None,
    *, exact_max: int | None = None, own_indexes: bool = True,
) -> list[int]:
    """The dense candidates `search()` starts from: the planned ANN search, nearest first."""
    async with engine.connect() as conn, conn.begin():
        plan = await _plan_walks(conn, scope, True, exact_max, own_indexes, max(ef_search or dense.EF_SEARCH, k))
        rows = await conn.execute(
            text(f"WITH readable AS NOT MATERIALIZED ({readable_chunks(scope)}) {dense.candidates_sql(plan, scope.dims)}"),
            {**scope.params(), **plan.params(), "qvec": vector_literal(query_vector), "n_dense": k},
        )
        return [int(r.chunk_id) for r in rows]


async def dense_plan(engine: AsyncEngine, scope: Scope, *, exact_max: int | None = None,
                     own_indexes: bool = True) -> dense.DensePlan:
    """The plan a dense search for `scope` would take now (for EXPLAIN and the benchmark)."""
    async with engine.connect() as conn:
        return await dense.plan_for(conn, scope, exact_max=exact_max, own_indexes=own_indexes)


async def _plan_walks(conn: AsyncConnection, scope: Scope, wanted: bool, exact_max: int | None, own_indexes: bool,
                      ef_search: int) -> dense.DensePlan:
    """The dense plan for this transaction's search (empty when no dense part is `wanted`), with
    the walk settings it runs under."""
    plan = await dense.plan_for(conn, scope, exact_max=exact_max, own_indexes=own_indexes) if wanted else dense.DensePlan()
    # Iterative scans keep walking a filtered graph until the LIMIT is filled (pgvector >= 0.8).
    # With sorts priced out, a part the plan sends to a graph walks it: the planner's costs
    # favour reading a set's rows and sorting them, which is many times slower (a sort that has
    # no alternative — the exact part, the merge, BM25's top-n — still runs).
    await conn.execute(text(f"SET LOCAL hnsw.ef_search = {ef_search}; SET LOCAL hnsw.iterative_scan = relaxed_order; "
                            "SET LOCAL enable_sort = off"))
    return plan
