"""The retrieval audit's index: which audit events saw which documents and chunks.

A retrieval's (or grounded answer's) audit event carries `detail.retrieval` — the masked query,
the collection, the caller's principals, the chunks returned and the chunks cited. A trigger on
`audit_events` copies the ids into `audit_documents` in the same transaction as the append, so
"who retrieved document D" and "what did request R see" are index lookups, not scans of the
chain. Only ids are kept: deleting a document or its chunks leaves them, and no text is copied.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Table, Text, and_, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.store.tables import audit_events, metadata

audit_documents = Table(
    "audit_documents",
    metadata,
    Column("seq", BigInteger, nullable=False),
    Column("tenant_seq", BigInteger),
    Column("tenant_id", Text),
    Column("request_id", Text),
    Column("document_id", BigInteger, nullable=False),
    Column("chunk_id", BigInteger, nullable=False),
    Column("cited", Boolean, nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Index("audit_documents_document", "document_id", "seq"),
    Index("audit_documents_tenant_document", "tenant_id", "document_id", "tenant_seq"),
    Index("audit_documents_request", "request_id"),
)

# The trigger's WHEN clause keeps every other event off the function entirely.
INDEX_TRIGGER = [
    """CREATE OR REPLACE FUNCTION gureum_audit_documents() RETURNS trigger AS $$
       BEGIN
         INSERT INTO audit_documents (seq, tenant_seq, tenant_id, request_id, document_id, chunk_id, cited, ts)
         SELECT NEW.seq, NEW.tenant_seq, NEW.tenant_id, NEW.request_id, (c->>'document_id')::bigint,
                (c->>'chunk_id')::bigint, coalesce(NEW.detail->'retrieval'->'cited' @> to_jsonb((c->>'chunk_id')::bigint), false),
                NEW.ts
         FROM jsonb_array_elements(NEW.detail->'retrieval'->'returned') c;
         RETURN NULL;
       END; $$ LANGUAGE plpgsql""",
    "DROP TRIGGER IF EXISTS audit_documents_index ON audit_events",
    """CREATE TRIGGER audit_documents_index AFTER INSERT ON audit_events
       FOR EACH ROW WHEN (NEW.detail ? 'retrieval') EXECUTE FUNCTION gureum_audit_documents()""",
]


@dataclass
class DocumentQuery:
    document_id: int
    tenant_id: str | None = None  # None: every tenant (a platform auditor)
    tenant_view: bool = False  # numbered and paged by the tenant's own sequence
    after: int | None = None
    limit: int = 100


def _event(row: dict[str, Any], tenant_view: bool) -> dict[str, Any]:
    retrieval = row["detail"].get("retrieval") or {}
    return {
        "seq": row["tenant_seq"] if tenant_view else row["seq"],
        "ts": row["ts"].astimezone(UTC).isoformat(timespec="microseconds"),
        "request_id": row["request_id"], "tenant_id": row["tenant_id"], "user_id": row["user_id"],
        "key_id": row["key_id"], "action": row["action"], "decision": row["decision"], "status": row["status"],
        "collection": retrieval.get("collection"), "query": retrieval.get("query"),
        "principals": retrieval.get("principals"),
    }


async def retrievals_of(engine: AsyncEngine, q: DocumentQuery) -> list[dict[str, Any]]:
    """The events that returned document `q.document_id`, oldest first, with its chunks in each."""
    d, a = audit_documents.c, audit_events.c
    order = d.tenant_seq if q.tenant_view else d.seq
    conds = [d.document_id == q.document_id]
    if q.tenant_id is not None:
        conds.append(d.tenant_id == q.tenant_id)
    if q.after is not None:
        conds.append(order > q.after)
    hits = (
        select(d.seq, func.array_agg(d.chunk_id).label("chunks"),
               func.array_agg(d.chunk_id).filter(d.cited).label("cited"))
        .where(and_(*conds)).group_by(d.seq, order).order_by(order).limit(q.limit).subquery()
    )
    stmt = (select(audit_events, hits.c.chunks, hits.c.cited).join(hits, hits.c.seq == a.seq)
            .order_by(a.tenant_seq if q.tenant_view else a.seq))
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [{**_event(dict(r), q.tenant_view), "chunk_ids": sorted(r["chunks"]), "cited_chunk_ids": sorted(r["cited"] or [])}
            for r in rows]


async def documents_of(engine: AsyncEngine, request_id: str, tenant_id: str | None,
                       tenant_view: bool) -> list[dict[str, Any]]:
    """What request `request_id` retrieved, per audit event: each document with its chunks,
    returned and cited (what the answer model was given)."""
    d, a = audit_documents.c, audit_events.c
    conds = [d.request_id == request_id]
    if tenant_id is not None:
        conds.append(d.tenant_id == tenant_id)
    stmt = (select(audit_events, d.document_id, d.chunk_id, d.cited).join(audit_events, a.seq == d.seq)
            .where(and_(*conds)).order_by(d.seq, d.document_id, d.chunk_id))
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    events: dict[int, dict[str, Any]] = {}
    for r in rows:
        ev = events.get(r["seq"])
        if ev is None:
            ev = events[r["seq"]] = {**_event(dict(r), tenant_view), "documents": {}}
        doc = ev["documents"].setdefault(r["document_id"], {"document_id": r["document_id"], "chunks": []})
        doc["chunks"].append({"chunk_id": r["chunk_id"], "cited": r["cited"]})
    for ev in events.values():
        ev["documents"] = list(ev["documents"].values())
    return list(events.values())
