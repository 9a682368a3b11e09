"""The hash-chained audit log.

Each event's hash is SHA-256 over the previous event's hash, its sequence number and the
SHA-256 of its canonical JSON (sorted keys, UTC timestamps), so altering, deleting or inserting
any event breaks the chain from that point. The content digest is computed here; the chain step
runs inside PostgreSQL (`gureum_append`, see store/migrate.py) so that appending costs one round
trip, and `verify` recomputes both here. The table is append-only by trigger; `verify` walks
the chain and names the first event that does not fit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.store.tables import audit_events

GENESIS = "0" * 64
HASHED_FIELDS = (
    "ts", "event_id", "request_id", "tenant_id", "user_id", "key_id", "action", "resource", "decision",
    "status", "cost", "detail",
)


@dataclass(slots=True)
class AuditEvent:
    action: str
    decision: str = "allow"
    tenant_id: str | None = None
    user_id: str | None = None
    key_id: str | None = None
    request_id: str | None = None
    resource: str | None = None
    status: int | None = None
    cost: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)
    ts: datetime = field(default_factory=lambda: datetime.now(UTC))
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def row(self) -> dict[str, Any]:
        return {
            "ts": self.ts, "event_id": self.event_id, "request_id": self.request_id, "tenant_id": self.tenant_id,
            "user_id": self.user_id, "key_id": self.key_id, "action": self.action, "resource": self.resource,
            "decision": self.decision, "status": self.status, "cost": float(self.cost), "detail": self.detail,
        }


def _canonical(row: dict[str, Any]) -> bytes:
    doc = {k: row.get(k) for k in HASHED_FIELDS}
    ts = doc["ts"]
    if isinstance(ts, datetime):
        doc["ts"] = ts.astimezone(UTC).isoformat(timespec="microseconds")
    doc["cost"] = round(float(doc["cost"] or 0.0), 10)
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def content_digest(row: dict[str, Any]) -> str:
    return hashlib.sha256(_canonical(row)).hexdigest()


def chain_hash(prev_hash: str, row: dict[str, Any]) -> str:
    """Must equal the SQL in `gureum_append`: sha256(prev || '\n' || seq || '\n' || digest)."""
    return hashlib.sha256(f"{prev_hash}\n{row['seq']}\n{content_digest(row)}".encode()).hexdigest()


@dataclass
class VerifyResult:
    ok: bool
    checked: int
    bad_seq: int | None = None
    reason: str = ""
    head: str = GENESIS


async def verify(engine: AsyncEngine, batch: int = 5000, checkpoint: tuple[int, str] | None = None) -> VerifyResult:
    """Walk the whole chain. A `checkpoint` (seq, hash) taken earlier and kept outside the database
    also catches what the chain alone cannot: the newest events cut off, or the whole chain
    rewritten by someone with full database rights."""
    result = await _walk(engine, batch, checkpoint)
    if result.ok and checkpoint is not None and checkpoint[0] > result.checked:
        return VerifyResult(False, result.checked, checkpoint[0], "checkpointed event is gone: the log was truncated")
    return result


async def _walk(engine: AsyncEngine, batch: int, checkpoint: tuple[int, str] | None) -> VerifyResult:
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    async with engine.connect() as conn:
        result = await conn.stream(select(audit_events).order_by(audit_events.c.seq).execution_options(yield_per=batch))
        async for r in result.mappings():
            row = dict(r)
            checked += 1
            if row["seq"] != expected_seq:
                return VerifyResult(False, checked, row["seq"], f"expected event #{expected_seq} here: events missing")
            if row["prev_hash"] != prev_hash:
                return VerifyResult(False, checked, row["seq"], "previous-hash link broken: an event was removed or inserted")
            if chain_hash(prev_hash, row) != row["hash"]:
                return VerifyResult(False, checked, row["seq"], "content does not match its hash: the event was altered")
            if checkpoint is not None and row["seq"] == checkpoint[0] and row["hash"] != checkpoint[1]:
                return VerifyResult(False, checked, row["seq"], "hash differs from the checkpoint: the chain was rewritten")
            prev_hash = row["hash"]
            expected_seq += 1
    return VerifyResult(True, checked, head=prev_hash)


@dataclass
class AuditQuery:
    tenant_id: str | None = None
    actor: str | None = None  # a user id or key id
    action: str | None = None
    resource: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    after_seq: int | None = None


def _where(q: AuditQuery) -> Any:
    c = audit_events.c
    conds = []
    if q.tenant_id is not None:
        conds.append(c.tenant_id == q.tenant_id)
    if q.actor:
        conds.append((c.user_id == q.actor) | (c.key_id == q.actor))
    if q.action:
        conds.append(c.action.like(q.action.replace("*", "%")))
    if q.resource:
        conds.append(c.resource.like(q.resource.replace("*", "%")))
    if q.since:
        conds.append(c.ts >= q.since)
    if q.until:
        conds.append(c.ts < q.until)
    if q.after_seq is not None:
        conds.append(c.seq > q.after_seq)
    return and_(True, *conds)


async def search(engine: AsyncEngine, q: AuditQuery) -> list[dict[str, Any]]:
    stmt = select(audit_events).where(_where(q)).order_by(audit_events.c.seq).limit(q.limit)
    async with engine.connect() as conn:
        return [public(dict(r)) for r in (await conn.execute(stmt)).mappings()]


async def iterate(engine: AsyncEngine, q: AuditQuery) -> AsyncIterator[dict[str, Any]]:
    stmt = select(audit_events).where(_where(q)).order_by(audit_events.c.seq).execution_options(yield_per=2000)
    async with engine.connect() as conn:
        result = await conn.stream(stmt)
        async for r in result.mappings():
            yield public(dict(r))


def public(row: dict[str, Any]) -> dict[str, Any]:
    row["ts"] = row["ts"].astimezone(UTC).isoformat(timespec="microseconds")
    return row
