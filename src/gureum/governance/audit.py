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


# The columns in the order `_canonical_row` reads them, the timestamp already in the canonical
# UTC form and `detail` as its JSON text: decoding neither in Python keeps a million-event walk
# within seconds.
_WALK_SQL = (
    "SELECT seq, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US') || '+00:00', event_id, request_id, "
    "tenant_id, user_id, key_id, action, resource, decision, status, cost, detail::text, prev_hash, hash "
    "FROM audit_events ORDER BY seq"
)


def _row_digest(r: tuple[Any, ...]) -> str:
    """`content_digest` of a `_WALK_SQL` row (the same canonical JSON, built without a datetime)."""
    doc = {"ts": r[1], "event_id": r[2], "request_id": r[3], "tenant_id": r[4], "user_id": r[5], "key_id": r[6],
           "action": r[7], "resource": r[8], "decision": r[9], "status": r[10], "cost": round(float(r[11] or 0.0), 10),
           "detail": orjson.loads(r[12])}
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def _walk(engine: AsyncEngine, batch: int, checkpoint: tuple[int, str] | None) -> VerifyResult:
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    sha256 = hashlib.sha256
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        pg = raw.driver_connection
        assert pg is not None
        async with pg.cursor(name="gureum_audit_verify") as cur:
            cur.itersize = batch
            await cur.execute(_WALK_SQL)
            while rows := await cur.fetchmany(batch):
                for r in rows:
                    seq = r[0]
                    checked += 1
                    if seq != expected_seq:
                        return VerifyResult(False, checked, seq, f"expected event #{expected_seq} here: events missing")
                    if r[13] != prev_hash:
                        return VerifyResult(False, checked, seq, "previous-hash link broken: an event was removed or inserted")
                    if sha256(f"{prev_hash}\n{seq}\n{_row_digest(r)}".encode()).hexdigest() != r[14]:
                        return VerifyResult(False, checked, seq, "content does not match its hash: the event was altered")
                    if checkpoint is not None and seq == checkpoint[0] and r[14] != checkpoint[1]:
                        return VerifyResult(False, checked, seq, "hash differs from the checkpoint: the chain was rewritten")
                    prev_hash = r[14]
                    expected_seq += 1
    return VerifyResult(True, checked, head=prev_hash)


@dataclass
class AuditQuery:
    tenant_id: str | None = None
    actor: str | None = None  # a user id or key id
    action: str | None = None
    resource: str | None = None
    decision: str | None = None  # the outcome: allow, deny, error
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 100
    after_seq: int | None = None
    # A tenant's own view: numbered by the tenant's sequence (`seq` is `tenant_seq`, `after_seq`
    # pages by it) and without the global chain's links, which would show other tenants' events.
    tenant_view: bool = False


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
    if q.decision:
        conds.append(c.decision == q.decision)
    if q.since:
        conds.append(c.ts >= q.since)
    if q.until:
        conds.append(c.ts < q.until)
    if q.after_seq is not None:
        conds.append((c.tenant_seq if q.tenant_view else c.seq) > q.after_seq)
    return and_(True, *conds)


def _order(q: AuditQuery) -> Any:
    assert not q.tenant_view or q.tenant_id is not None, "a tenant view is of one tenant"
    return audit_events.c.tenant_seq if q.tenant_view else audit_events.c.seq


async def search(engine: AsyncEngine, q: AuditQuery) -> list[dict[str, Any]]:
    stmt = select(audit_events).where(_where(q)).order_by(_order(q)).limit(q.limit)
    async with engine.connect() as conn:
        return [public(dict(r), q.tenant_view) for r in (await conn.execute(stmt)).mappings()]


async def iterate(engine: AsyncEngine, q: AuditQuery) -> AsyncIterator[dict[str, Any]]:
    stmt = select(audit_events).where(_where(q)).order_by(_order(q)).execution_options(yield_per=2000)
    async with engine.connect() as conn:
        result = await conn.stream(stmt)
        async for r in result.mappings():
            yield public(dict(r), q.tenant_view)


def public(row: dict[str, Any], tenant_view: bool = False) -> dict[str, Any]:
    row["ts"] = row["ts"].astimezone(UTC).isoformat(timespec="microseconds")
    if tenant_view:
        row["seq"] = row.pop("tenant_seq")
        del row["prev_hash"], row["hash"]
    return row
