"""The index: every SQL statement that reads or writes collections, documents, chunks, vectors,
postings and their statistics lives here, and nowhere else.

The ACL rule. `readable_chunks()` is THE base query — "the chunks of this collection, in this
tenant, whose ACL overlaps the caller's principals" — and dense search, lexical (BM25) search,
their fusion and every chunk or document lookup made for a caller start from it, inside the same
SQL statement. A chunk the caller may not read is never a row any later step sees: top-k is
filled from readable chunks only, BM25 statistics (N, avgdl, df) are summed over the ACL sets
the caller may read, and a document id the caller may not read is indistinguishable from one
that does not exist. (BM25 reads postings, which carry their chunk's ACL set, through the same
`acl && :principals` predicate applied to `acl_sets`; every candidate is then joined to
`readable_chunks()` before it is scored or returned.)

Writes keep a document, its chunks, vectors, postings, statistics and ACL in one transaction,
serialised per collection by an advisory lock, so a crash never leaves half a document, a
duplicate or an orphan.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from gureum.knowledge.tables import hnsw_index_ddl

# BM25 (Robertson/Spärck Jones; Lucene's defaults and idf).
K1 = 1.2
B = 0.75
# Lexical candidates come from the postings of the query's "essential" terms (MaxScore's idea):
# the rarest term, and every term in at most this share of the readable chunks (or this many).
# Very common terms still count fully in every candidate's exact BM25 score; they only do not
# nominate candidates by themselves, which spares reading postings lists of half the index.
ESSENTIAL_FRACTION = 0.05
ESSENTIAL_MIN = 5000


@dataclass(frozen=True, slots=True)
class Scope:
    """Who is asking, about which collection."""

    tenant_id: str
    collection_id: str
    principals: tuple[str, ...]
    dims: int

    def params(self) -> dict[str, Any]:
        return {"tenant": self.tenant_id, "collection": self.collection_id, "principals": list(self.principals)}


def _may_read(alias: str) -> str:
    return f"{alias}.acl && CAST(:principals AS text[])"


def readable_chunks(scope: Scope) -> str:
    """THE base query: the chunks `scope.principals` may read in `scope.collection_id`.

    Parameters `:tenant`, `:collection` and `:principals` (from `Scope.params()`). The vector
    is cast to the collection's dimension so the planner can use that dimension's HNSW index;
    used as a `NOT MATERIALIZED` CTE, it is inlined into each search that starts from it.
    """
    d = int(scope.dims)
    return (
        f"SELECT c.id, c.document_id, c.length, c.embedding::vector({d}) AS embedding FROM chunks c "
        f"WHERE c.tenant_id = :tenant AND c.collection_id = :collection AND c.dims = {d} AND {_may_read('c')}"
    )


def _readable_sets() -> str:
    return f"SELECT s.id, s.n_chunks, s.total_len FROM acl_sets s WHERE s.collection_id = :collection AND {_may_read('s')}"


def vector_literal(vec: Sequence[float] | np.ndarray) -> str:
    return "[" + ",".join(f"{float(x):.7g}" for x in vec) + "]"


# --------------------------------------------------------------------------- collections


async def ensure_vector_index(engine: AsyncEngine, dims: int) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('gureum:hnsw'))"))
        await conn.execute(text(hnsw_index_ddl(dims)))


_COLLECTION_COLS = (
    "id, tenant_id, name, description, embedder, dimensions, chunk_max_tokens, chunk_overlap, residency, "
    "default_acl, pii_policy, answer_model, settings, created_at"
)


async def insert_collection(engine: AsyncEngine, row: dict[str, Any]) -> dict[str, Any] | None:
    """Insert a collection; None if the tenant already has one of that name."""
    await ensure_vector_index(engine, row["dimensions"])
    row = {"id": "col_" + uuid.uuid4().hex[:16], "description": "", "answer_model": None, "settings": "{}", **row}
    async with engine.begin() as conn:
        got = (
            await conn.execute(
                text(
                    "INSERT INTO collections (id, tenant_id, name, description, embedder, dimensions, chunk_max_tokens,"
                    " chunk_overlap, residency, default_acl, pii_policy, answer_model, settings) VALUES (:id, :tenant_id,"
                    " :name, :description, :embedder, :dimensions, :chunk_max_tokens, :chunk_overlap, :residency,"
                    " CAST(:default_acl AS text[]), :pii_policy, :answer_model, CAST(:settings AS jsonb))"
                    f" ON CONFLICT ON CONSTRAINT collections_tenant_name DO NOTHING RETURNING {_COLLECTION_COLS}"
                ),
                row,
            )
        ).mappings().one_or_none()
    return dict(got) if got else None


async def get_collection(engine: AsyncEngine, tenant_id: str, name: str) -> dict[str, Any] | None:
    async with engine.connect() as conn:
        got = (
            await conn.execute(
                text(f"SELECT {_COLLECTION_COLS} FROM collections WHERE tenant_id = :t AND name = :n"),
                {"t": tenant_id, "n": name},
            )
        ).mappings().one_or_none()
    return dict(got) if got else None


async def list_collections(engine: AsyncEngine, tenant_id: str) -> list[dict[str, Any]]:
    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    f"SELECT {', '.join('c.' + c.strip() for c in _COLLECTION_COLS.split(','))},"
                    " (SELECT count(*) FROM documents d WHERE d.collection_id = c.id) AS documents,"
                    " (SELECT coalesce(sum(n_chunks), 0) FROM acl_sets s WHERE s.collection_id = c.id) AS chunks"
                    " FROM collections c WHERE c.tenant_id = :t ORDER BY c.name"
                ),
                {"t": tenant_id},
            )
        ).mappings().all()
    return [dict(r) for r in rows]


async def update_collection(engine: AsyncEngine, collection_id: str, changes: dict[str, Any]) -> None:
    allowed = {"description", "residency", "default_acl", "pii_policy", "answer_model"}
    sets = []
    for k in changes:
        if k not in allowed:
            raise ValueError(k)
        sets.append(f"{k} = CAST(:{k} AS text[])" if k == "default_acl" else f"{k} = :{k}")
    if not sets:
        return
    async with engine.begin() as conn:
        await conn.execute(text(f"UPDATE collections SET {', '.join(sets)} WHERE id = :id"), {**changes, "id": collection_id})


async def delete_collection(engine: AsyncEngine, collection_id: str) -> None:
    async with engine.begin() as conn:
        await _lock_collection(conn, collection_id)
        await conn.execute(text("DELETE FROM chunk_terms WHERE collection_id = :c"), {"c": collection_id})
        await conn.execute(text("DELETE FROM chunk_sentences WHERE collection_id = :c"), {"c": collection_id})
        await conn.execute(text("DELETE FROM term_stats WHERE collection_id = :c"), {"c": collection_id})
        await conn.execute(text("DELETE FROM chunks WHERE collection_id = :c"), {"c": collection_id})
        await conn.execute(text("DELETE FROM collections WHERE id = :c"), {"c": collection_id})


# --------------------------------------------------------------------------- writes


@dataclass(slots=True)
class ChunkRow:
    ordinal: int
    text: str
    heading_path: list[str]
    page: int | None
    start: int
    end: int
    tokens: int
    terms: Counter[str]
    pii_types: list[str]
    vector: np.ndarray
    sentence_vectors: np.ndarray | None = None


@dataclass(slots=True)
class DocumentRow:
    uri: str
    title: str
    media_type: str | None
    content_hash: str
    acl: list[str]
    acl_source: str
    residency: str | None
    metadata: dict[str, Any]
    chunks: list[ChunkRow] = field(default_factory=list)

    @property
    def pii_types(self) -> list[str]:
        return sorted({t for c in self.chunks for t in c.pii_types})


def normalise_acl(acl: Sequence[str]) -> list[str]:
    return sorted(set(acl))


async def _lock_collection(conn: AsyncConnection, collection_id: str) -> None:
    await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('gureum:kn:' || :c))"), {"c": collection_id})


async def document_hashes(engine: AsyncEngine, collection_id: str) -> dict[str, str]:
    """uri -> content hash of every document in the collection (for incremental ingest and sync)."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT uri, content_hash FROM documents WHERE collection_id = :c"), {"c": collection_id}
        )
        return {r.uri: r.content_hash for r in rows}


async def _acl_set(conn: AsyncConnection, collection_id: str, acl: list[str]) -> int:
    row = (
        await conn.execute(
            text(
                "INSERT INTO acl_sets (collection_id, acl) VALUES (:c, CAST(:acl AS text[])) "
                "ON CONFLICT ON CONSTRAINT acl_sets_collection_acl DO UPDATE SET acl = EXCLUDED.acl RETURNING id"
            ),
            {"c": collection_id, "acl": acl},
        )
    ).one()
    return int(row.id)


async def _remove_stats(conn: AsyncConnection, collection_id: str, where: str, params: dict[str, Any]) -> None:
    """Subtract the statistics of the chunks selected by `where` (on alias c) before they go."""
    await conn.execute(
        text(
            "UPDATE acl_sets s SET n_chunks = s.n_chunks - x.n, total_len = s.total_len - x.len FROM ("
            f"SELECT c.acl_set_id, count(*) AS n, sum(c.length) AS len FROM chunks c WHERE {where} "
            "GROUP BY c.acl_set_id) x WHERE s.id = x.acl_set_id"
        ),
        params,
    )
    gone = await conn.execute(
        text(
            "WITH x AS (SELECT ct.term, c.acl_set_id, count(*) AS df FROM chunks c JOIN chunk_terms ct "
            f"ON ct.chunk_id = c.id AND ct.collection_id = :collection WHERE {where} GROUP BY ct.term, c.acl_set_id) "
            "UPDATE term_stats ts SET df = ts.df - x.df FROM x WHERE ts.collection_id = :collection "
            "AND ts.term = x.term AND ts.acl_set_id = x.acl_set_id "
            "RETURNING ts.term, ts.acl_set_id, ts.df"
        ),
        {**params, "collection": collection_id},
    )
    empty = [(r.term, r.acl_set_id) for r in gone if r.df <= 0]
    if empty:
        await conn.execute(
            text(
                "DELETE FROM term_stats ts USING unnest(CAST(:t AS text[]), CAST(:s AS bigint[])) AS e(term, set_id) "
                "WHERE ts.collection_id = :collection AND ts.term = e.term AND ts.acl_set_id = e.set_id"
            ),
            {"t": [e[0] for e in empty], "s": [e[1] for e in empty], "collection": collection_id},
        )


async def _delete_documents(conn: AsyncConnection, collection_id: str, doc_ids: list[int]) -> None:
    if not doc_ids:
        return
    params = {"ids": doc_ids}
    await _remove_stats(conn, collection_id, "c.document_id = ANY(CAST(:ids AS bigint[]))", params)
    await conn.execute(
        text(
            "DELETE FROM chunk_terms ct USING chunks c WHERE ct.chunk_id = c.id AND ct.collection_id = :collection "
            "AND c.document_id = ANY(CAST(:ids AS bigint[]))"
        ),
        {**params, "collection": collection_id},
    )
    await conn.execute(
        text(
            "DELETE FROM chunk_sentences cs USING chunks c WHERE cs.chunk_id = c.id "
            "AND c.document_id = ANY(CAST(:ids AS bigint[]))"
        ),
        params,
    )
    await conn.execute(text("DELETE FROM chunks WHERE document_id = ANY(CAST(:ids AS bigint[]))"), params)
    await conn.execute(text("DELETE FROM documents WHERE id = ANY(CAST(:ids AS bigint[]))"), params)


async def replace_documents(
    engine: AsyncEngine, tenant_id: str, collection_id: str, dims: int, docs: Sequence[DocumentRow]
) -> list[int]:
    """Write `docs` (each replacing any document with the same uri) in ONE transaction: document
    rows, chunks with vectors (COPY), postings (COPY), statistics and ACL. Returns the new ids."""
    if not docs:
        return []
    async with engine.begin() as conn:
        await _lock_collection(conn, collection_id)
        uris = [d.uri for d in docs]
        old = await conn.execute(
            text("SELECT id FROM documents WHERE collection_id = :c AND uri = ANY(CAST(:u AS text[]))"),
            {"c": collection_id, "u": uris},
        )
        await _delete_documents(conn, collection_id, [r.id for r in old])
        set_ids: dict[tuple[str, ...], int] = {}
        for d in docs:
            key = tuple(normalise_acl(d.acl))
            if key not in set_ids:
                set_ids[key] = await _acl_set(conn, collection_id, list(key))
        doc_ids: list[int] = []
        for d in docs:
            acl = normalise_acl(d.acl)
            row = (
                await conn.execute(
                    text(
                        "INSERT INTO documents (collection_id, tenant_id, uri, title, media_type, content_hash, acl, "
                        "acl_source, acl_set_id, residency, pii_types, n_chunks, tokens, metadata) VALUES (:c, :t, :uri, "
                        ":title, :mt, :h, CAST(:acl AS text[]), :src, :set, :res, CAST(:pii AS text[]), :n, :tok, "
                        "CAST(:meta AS jsonb)) RETURNING id"
                    ),
                    {
                        "c": collection_id, "t": tenant_id, "uri": d.uri, "title": d.title, "mt": d.media_type,
                        "h": d.content_hash, "acl": acl, "src": d.acl_source, "set": set_ids[tuple(acl)],
                        "res": d.residency, "pii": d.pii_types, "n": len(d.chunks),
                        "tok": sum(c.tokens for c in d.chunks), "meta": _json(d.metadata),
                    },
                )
            ).one()
            doc_ids.append(int(row.id))
        n_chunks = sum(len(d.chunks) for d in docs)
        if n_chunks:
            ids = [
                int(r[0])
                for r in await conn.execute(
                    text("SELECT nextval(pg_get_serial_sequence('chunks', 'id')) FROM generate_series(1, :n)"),
                    {"n": n_chunks},
                )
            ]
            raw = await conn.get_raw_connection()
            pg = raw.driver_connection
            assert pg is not None
            set_delta: dict[int, list[int]] = {}
            df: Counter[tuple[str, int]] = Counter()
            async with pg.cursor() as cur:
                i = 0
                async with cur.copy(
                    "COPY chunks (id, document_id, collection_id, tenant_id, acl, acl_set_id, ordinal, text, "
                    "heading_path, page, start_offset, end_offset, tokens, length, pii_types, dims, embedding) "
                    "FROM STDIN"
                ) as copy:
                    for doc_id, d in zip(doc_ids, docs, strict=True):
                        acl = normalise_acl(d.acl)
                        set_id = set_ids[tuple(acl)]
                        for c in d.chunks:
                            length = sum(c.terms.values())
                            await copy.write_row(
                                (ids[i], doc_id, collection_id, tenant_id, acl, set_id, c.ordinal, c.text,
                                 c.heading_path, c.page, c.start, c.end, c.tokens, length, c.pii_types, dims,
                                 vector_literal(c.vector))
                            )
                            acc = set_delta.setdefault(set_id, [0, 0])
                            acc[0] += 1
                            acc[1] += length
                            for term in c.terms:
                                df[(term, set_id)] += 1
                            i += 1
                async with cur.copy("COPY chunk_sentences (chunk_id, ord, collection_id, embedding) FROM STDIN") as copy:
                    i = 0
                    for d in docs:
                        for c in d.chunks:
                            if c.sentence_vectors is not None:
                                for o, sv in enumerate(c.sentence_vectors[:32767]):
                                    await copy.write_row((ids[i], o, collection_id, vector_literal(sv)))
                            i += 1
                async with cur.copy(
                    "COPY chunk_terms (collection_id, term, chunk_id, tf, dl, acl_set_id) FROM STDIN"
                ) as copy:
                    i = 0
                    for d in docs:
                        set_id = set_ids[tuple(normalise_acl(d.acl))]
                        for c in d.chunks:
                            length = sum(c.terms.values())
                            for term, tf in c.terms.items():
                                await copy.write_row((collection_id, term, ids[i], min(tf, 32767), length, set_id))
                            i += 1
            for set_id, (n, length) in sorted(set_delta.items()):
                await conn.execute(
                    text("UPDATE acl_sets SET n_chunks = n_chunks + :n, total_len = total_len + :l WHERE id = :id"),
                    {"n": n, "l": length, "id": set_id},
                )
            items = sorted(df.items())
            await conn.execute(
                text(
                    "INSERT INTO term_stats (collection_id, term, acl_set_id, df) SELECT :c, t, s, n FROM "
                    "unnest(CAST(:terms AS text[]), CAST(:sets AS bigint[]), CAST(:dfs AS bigint[])) AS x(t, s, n) "
                    "ON CONFLICT (collection_id, term, acl_set_id) DO UPDATE SET df = term_stats.df + EXCLUDED.df"
                ),
                {"c": collection_id, "terms": [k[0] for k, _ in items], "sets": [k[1] for k, _ in items],
                 "dfs": [v for _, v in items]},
            )
    return doc_ids


async def delete_documents_by_uri(engine: AsyncEngine, collection_id: str, uris: Sequence[str]) -> int:
    if not uris:
        return 0
    async with engine.begin() as conn:
        await _lock_collection(conn, collection_id)
        rows = await conn.execute(
            text("SELECT id FROM documents WHERE collection_id = :c AND uri = ANY(CAST(:u AS text[]))"),
            {"c": collection_id, "u": list(uris)},
        )
        ids = [int(r.id) for r in rows]
        await _delete_documents(conn, collection_id, ids)
    return len(ids)


async def _lock_document(conn: AsyncConnection, collection_id: str, doc_id: int) -> bool:
    """Lock the collection's writes and the document's row; False when there is no such document."""
    await _lock_collection(conn, collection_id)
    found = await conn.execute(
        text("SELECT id FROM documents WHERE collection_id = :c AND id = :d FOR UPDATE"),
        {"c": collection_id, "d": doc_id},
    )
    return found.one_or_none() is not None


async def delete_document(engine: AsyncEngine, collection_id: str, doc_id: int) -> bool:
    async with engine.begin() as conn:
        if not await _lock_document(conn, collection_id, doc_id):
            return False
        await _delete_documents(conn, collection_id, [doc_id])
    return True


async def set_document_acl(engine: AsyncEngine, collection_id: str, doc_id: int, acl: list[str], source: str) -> bool:
    """Change a document's ACL; its chunks, postings statistics and ACL set move in the same
    transaction, so the next query sees the new ACL."""
    acl = normalise_acl(acl)
    async with engine.begin() as conn:
        if not await _lock_document(conn, collection_id, doc_id):
            return False
        where = "c.document_id = :doc"
        await _remove_stats(conn, collection_id, where, {"doc": doc_id})
        set_id = await _acl_set(conn, collection_id, acl)
        params = {"doc": doc_id, "acl": acl, "set": set_id, "collection": collection_id}
        await conn.execute(
            text("UPDATE documents SET acl = CAST(:acl AS text[]), acl_set_id = :set, acl_source = :src, "
                 "updated_at = now() WHERE id = :doc"),
            {**params, "src": source},
        )
        await conn.execute(
            text("UPDATE chunks SET acl = CAST(:acl AS text[]), acl_set_id = :set WHERE document_id = :doc"), params
        )
        await conn.execute(
            text(
                "UPDATE chunk_terms ct SET acl_set_id = :set FROM chunks c WHERE c.document_id = :doc "
                "AND ct.chunk_id = c.id AND ct.collection_id = :collection"
            ),
            params,
        )
        await conn.execute(
            text(
                "UPDATE acl_sets s SET n_chunks = s.n_chunks + x.n, total_len = s.total_len + x.len FROM ("
                "SELECT count(*) AS n, coalesce(sum(length), 0) AS len FROM chunks WHERE document_id = :doc) x "
                "WHERE s.id = :set"
            ),
            params,
        )
        await conn.execute(
            text(
                "INSERT INTO term_stats (collection_id, term, acl_set_id, df) SELECT :collection, ct.term, :set, "
                "count(*) FROM chunks c JOIN chunk_terms ct ON ct.chunk_id = c.id AND ct.collection_id = :collection "
                "WHERE c.document_id = :doc GROUP BY ct.term ORDER BY ct.term "
                "ON CONFLICT (collection_id, term, acl_set_id) DO UPDATE SET df = term_stats.df + EXCLUDED.df"
            ),
            params,
        )
    return True


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value, default=str).decode()


# --------------------------------------------------------------------------- reads for a caller


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


def _search_sql(scope: Scope, with_vectors: bool, sentences: bool) -> str:
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
sets AS ({_readable_sets()}),
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
dense AS (
  SELECT r.id AS chunk_id FROM readable r
  ORDER BY r.embedding <=> CAST(:qvec AS vector({d})) LIMIT :n_dense),
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
    ef_search: int = 100,
    with_vectors: bool = False,
    sentences: bool = True,
) -> list[Hit]:
    """Hybrid search in one statement: BM25 top-n and ANN top-n (chunk vectors) over the
    readable chunks; for every candidate both scores are computed exactly — the dense score is
    its best sentence's cosine (`sentences=True`) or the chunk vector's — and fused as a weighted
    sum of per-query z-normalised scores. A weight of 0 turns a retriever off."""
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
        await conn.execute(text(f"SET LOCAL hnsw.ef_search = {max(int(ef_search), candidates)}"))
        await conn.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        rows = (await conn.execute(text(_search_sql(scope, with_vectors, sentences)), params)).all()
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
    return await _dense_ids(engine, scope, query_vector, k, ["SET LOCAL enable_indexscan = off"], "MATERIALIZED")


async def ann_dense(engine: AsyncEngine, scope: Scope, query_vector: np.ndarray, k: int, ef_search: int = 100) -> list[int]:
    settings = [f"SET LOCAL hnsw.ef_search = {max(int(ef_search), k)}", "SET LOCAL hnsw.iterative_scan = relaxed_order"]
    return await _dense_ids(engine, scope, query_vector, k, settings, "NOT MATERIALIZED")


async def _dense_ids(
    engine: AsyncEngine, scope: Scope, query_vector: np.ndarray, k: int, settings: list[str], materialized: str
) -> list[int]:
    d = int(scope.dims)
    async with engine.connect() as conn, conn.begin():
        for statement in settings:
            await conn.execute(text(statement))
        rows = await conn.execute(
            text(
                f"WITH readable AS {materialized} ({readable_chunks(scope)}) SELECT id FROM readable "
                f"ORDER BY embedding <=> CAST(:qvec AS vector({d})) LIMIT :k"
            ),
            {**scope.params(), "qvec": vector_literal(query_vector), "k": k},
        )
        return [int(r.id) for r in rows]
