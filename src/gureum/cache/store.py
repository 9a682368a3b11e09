"""The shared cache tables: answers with the embedding of their request (HNSW, cosine), and the
per-collection generation counters the knowledge layer bumps when documents change."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import BigInteger, Column, DateTime, Float, Index, Table, Text, delete, func, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.store.tables import metadata

EMBED_DIMENSIONS = 384  # multilingual-e5-small

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("key", Text, primary_key=True),  # the exact key (sha256 of the normalised request)
    Column("tenant_id", Text, nullable=False),
    Column("model", Text),  # the requested model name (a virtual one as asked), for purging
    Column("scope", Text),  # the semantic scope; NULL = exact matches only
    Column("collection", Text),  # rag/<collection> answers, for invalidation
    Column("query", Text, nullable=False, server_default=""),  # the masked last user turn
    Column("embedding", Vector(EMBED_DIMENSIONS)),
    Column("analysis", JSONB),  # gureum.cache.analysis of `query`, made at write time
    Column("body", JSONB, nullable=False),  # the masked chat.completion as the provider gave it
    Column("usage", JSONB),
    Column("cost", Float, nullable=False, server_default="0"),
    Column("deployment", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("cache_entries_scope", "scope", "expires_at"),
    Index("cache_entries_tenant", "tenant_id", "model"),
    Index("cache_entries_collection", "collection"),
    Index("cache_entries_expires", "expires_at"),
    Index(
        "cache_entries_embedding",
        "embedding",
        postgresql_using="hnsw",
        postgresql_with={"m": 16, "ef_construction": 64},
        postgresql_ops={"embedding": "vector_cosine_ops"},
    ),
)

cache_generations = Table(
    "cache_generations",
    metadata,
    Column("collection", Text, primary_key=True),  # `<tenant>/<collection name>`
    Column("generation", BigInteger, nullable=False, server_default="0"),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)



# --- queries: the only place that reads or writes the cache tables ---------------------------


@dataclass(slots=True)
class Answer:
    """A stored answer: the masked provider reply and what producing it cost."""

    body: dict[str, Any]
    usage: dict[str, Any]
    cost: float
    deployment: str | None
    query: str
    created: float  # epoch seconds

    def to_json(self) -> dict[str, Any]:
        return {"body": self.body, "usage": self.usage, "cost": self.cost, "deployment": self.deployment,
                "query": self.query, "created": self.created}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Answer:
        return cls(d["body"], d.get("usage") or {}, float(d.get("cost") or 0.0), d.get("deployment"),
                   d.get("query") or "", float(d.get("created") or time.time()))


def _answer(row: Any) -> Answer:
    return Answer(row.body, row.usage or {}, float(row.cost or 0.0), row.deployment, row.query or "",
                  row.created_at.timestamp())


async def get(engine: AsyncEngine, key: str) -> Answer | None:
    c = cache_entries.c
    stmt = select(c.body, c.usage, c.cost, c.deployment, c.query, c.created_at).where(
        c.key == key, c.expires_at > func.now()
    )
    async with engine.connect() as conn:
        row = (await conn.execute(stmt)).one_or_none()
    return _answer(row) if row is not None else None


async def nearest(
    engine: AsyncEngine, scope: str, vector: list[float], k: int
) -> list[tuple[float, Answer, dict[str, Any] | None]]:
    """The k stored answers of one scope closest to `vector`, with their cosine similarity and
    the analysis of their request (None for rows written before it was stored)."""
    literal = "[" + ",".join(f"{x:.7g}" for x in vector) + "]"
    sql = text(
        "SELECT body, usage, cost, deployment, query, created_at, analysis, "
        "1 - (embedding <=> CAST(:v AS vector)) AS sim "
        "FROM cache_entries WHERE scope = :scope AND expires_at > now() AND embedding IS NOT NULL "
        "ORDER BY embedding <=> CAST(:v AS vector) LIMIT :k"
    )
    async with engine.begin() as conn:
        # If the planner picks the HNSW index, keep scanning until k rows of this scope are found.
        await conn.execute(text("SET LOCAL hnsw.iterative_scan = relaxed_order"))
        rows = (await conn.execute(sql, {"v": literal, "scope": scope, "k": k})).all()
    return [(float(r.sim), _answer(r), r.analysis) for r in rows]


async def upsert(
    engine: AsyncEngine,
    *,
    key: str,
    tenant_id: str,
    model: str,
    scope: str | None,
    collection: str | None,
    answer: Answer,
    embedding: list[float] | None,
    ttl: int,
    analysis: dict[str, Any] | None = None,
) -> None:
    values = {
        "key": key, "tenant_id": tenant_id, "model": model, "scope": scope, "collection": collection, "query": answer.query,
        "embedding": embedding, "analysis": analysis, "body": answer.body, "usage": answer.usage, "cost": answer.cost,
        "deployment": answer.deployment, "expires_at": datetime.now(UTC) + timedelta(seconds=ttl),
    }
    stmt = pg_insert(cache_entries).values(**values)
    stmt = stmt.on_conflict_do_update(
        index_elements=[cache_entries.c.key],
        set_={k: stmt.excluded[k] for k in values if k != "key"} | {"created_at": func.now()},
    )
    async with engine.begin() as conn:
        await conn.execute(stmt)


async def purge(
    engine: AsyncEngine, *, tenant_id: str | None = None, model: str | None = None, collection: str | None = None,
    expired: bool = False,
) -> set[str]:
    """Delete the matching entries; returns their keys."""
    c = cache_entries.c
    stmt = delete(cache_entries).returning(c.key)
    if tenant_id is not None:
        stmt = stmt.where(c.tenant_id == tenant_id)
    if model is not None:
        stmt = stmt.where(c.model == model)
    if collection is not None:
        stmt = stmt.where(c.collection == collection)
    if expired:
        stmt = stmt.where(c.expires_at <= func.now())
    async with engine.begin() as conn:
        return set((await conn.execute(stmt)).scalars())


def _generation_key(tenant_id: str, collection: str) -> str:
    # Collection names are unique per tenant only: one tenant's changes must not void another's.
    return f"{tenant_id}/{collection}"


async def generation(engine: AsyncEngine, tenant_id: str, collection: str) -> int:
    key = _generation_key(tenant_id, collection)
    async with engine.connect() as conn:
        value = (
            await conn.execute(select(cache_generations.c.generation).where(cache_generations.c.collection == key))
        ).scalar_one_or_none()
    return int(value or 0)


async def bump(engine: AsyncEngine, tenant_id: str, collection: str) -> int:
    insert = pg_insert(cache_generations).values(collection=_generation_key(tenant_id, collection), generation=1)
    stmt = insert.on_conflict_do_update(
        index_elements=[cache_generations.c.collection],
        set_={"generation": cache_generations.c.generation + 1, "updated_at": func.now()},
    ).returning(cache_generations.c.generation)
    async with engine.begin() as conn:
        value = (await conn.execute(stmt)).scalar_one()
        await conn.execute(delete(cache_entries).where(cache_entries.c.tenant_id == tenant_id,
                                                       cache_entries.c.collection == collection))
    return int(value)


__all__ = [
    "EMBED_DIMENSIONS", "Answer", "bump", "cache_entries", "cache_generations", "generation", "get", "nearest",
    "purge", "upsert",
]
