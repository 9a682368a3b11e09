"""The write path: collection rows, documents with their chunks, vectors and postings, ACL
changes, and the statistics (`acl_sets`, `term_stats`) that BM25 reads.

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

from gureum.knowledge.documents import ChunkDraft
from gureum.knowledge.index.scope import vector_literal
from gureum.knowledge.tables import hnsw_index_ddl

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
    """`settings` (a JSON object text) is merged into the stored object, key by key."""
    typed = {"default_acl": "{k} = CAST(:{k} AS text[])", "settings": "{k} = {k} || CAST(:{k} AS jsonb)"}
    allowed = {"description", "residency", "default_acl", "pii_policy", "answer_model", "settings"}
    sets = []
    for k in changes:
        if k not in allowed:
            raise ValueError(k)
        sets.append(typed.get(k, "{k} = :{k}").format(k=k))
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


# --------------------------------------------------------------------------- documents


@dataclass(slots=True)
class ChunkRow:
    """A chunk as written: its draft (text, heading path, page, offsets, tokens) and what
    ingestion added — lexical terms, PII types, the chunk vector and its sentences' vectors."""

    draft: ChunkDraft
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
                        "tok": sum(c.draft.tokens for c in d.chunks), "meta": _json(d.metadata),
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
                            draft = c.draft
                            await copy.write_row(
                                (ids[i], doc_id, collection_id, tenant_id, acl, set_id, draft.ordinal, draft.text,
                                 draft.heading_path, draft.page, draft.start, draft.end, draft.tokens, length,
                                 c.pii_types, dims, vector_literal(c.vector))
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
