"""Group commit for the ledger and the audit chain.

Requests hand their ledger row and audit event to one writer task per process; it writes
everything queued in one transaction and then releases the waiters. Replicas keep one linear
chain by taking a transaction-scoped advisory lock before reading the head (two statements:
under READ COMMITTED a statement's snapshot predates any lock it waits for). A request is answered only after its
audit event is committed, so a kill right after answering cannot lose it, while the database
sees one transaction per batch instead of one per request.

It uses one dedicated psycopg connection rather than the SQLAlchemy pool: this is the hottest
write path, and the raw driver's pipelined `executemany` is several times cheaper per row.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

from gureum.errors import ServiceUnavailable
from gureum.governance.audit import GENESIS, AuditEvent, link

log = logging.getLogger("gureum.recorder")

_AUDIT_COLS = (
    "seq", "ts", "event_id", "request_id", "tenant_id", "user_id", "key_id", "action", "resource", "decision",
    "status", "cost", "detail", "prev_hash", "hash",
)
LEDGER_COLS = (
    "ts", "request_id", "tenant_id", "user_id", "key_id", "endpoint", "model", "deployment", "provider", "region",
    "input_tokens", "output_tokens", "cached_tokens", "tokens_saved", "cost", "cost_saved", "latency_ms", "status",
    "error_code", "cache", "route",
)
_LOCK = 0x61756469  # "audi"
_HEAD_SQL = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
_AUDIT_SQL = f"INSERT INTO audit_events ({', '.join(_AUDIT_COLS)}) VALUES ({', '.join(['%s'] * len(_AUDIT_COLS))})"
_LEDGER_SQL = f"INSERT INTO ledger ({', '.join(LEDGER_COLS)}) VALUES ({', '.join(['%s'] * len(LEDGER_COLS))})"


def _dumps(obj: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


@dataclass(slots=True)
class _Item:
    ledger: dict[str, Any] | None
    audit: AuditEvent | None
    done: asyncio.Future[None] | None


class Recorder:
    def __init__(self, dsn: str, batch_max: int = 500) -> None:
        self.dsn = dsn
        self.batch_max = batch_max
        self._queue: asyncio.Queue[_Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def start(self) -> None:
        self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=False)
        self._task = asyncio.create_task(self._run(), name="gureum-recorder")

    async def stop(self) -> None:
        """Flush everything queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
        self._task = None
        if self._conn is not None:
            await self._conn.close()

    def submit(self, ledger: dict[str, Any] | None = None, audit: AuditEvent | None = None) -> asyncio.Future[None]:
        """Queue a ledger row and/or an audit event; the future resolves once they are committed.
        Queuing itself is synchronous, so a caller being cancelled cannot lose the record."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Item(ledger, audit, fut))
        return fut

    async def record(self, ledger: dict[str, Any] | None = None, audit: AuditEvent | None = None) -> None:
        await self.submit(ledger, audit)

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            batch = [first]
            while len(batch) < self.batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._write_with_retry(batch)
            for _ in batch:
                self._queue.task_done()

    async def _write_with_retry(self, batch: list[_Item]) -> None:
        delay = 0.05
        for attempt in range(8):
            try:
                await self._write(batch)
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                log.warning("recorder write failed (attempt %d): %s", attempt + 1, exc)
                await asyncio.sleep(delay)
                delay = min(2.0, delay * 2)
                await self._reconnect()
                continue
            except Exception as exc:  # noqa: BLE001 — reported to every waiter below
                log.exception("recorder write failed")
                self._fail(batch, exc)
                return
            for item in batch:
                if item.done is not None and not item.done.done():
                    item.done.set_result(None)
            return
        self._fail(batch, RuntimeError("store unreachable"))

    def _fail(self, batch: list[_Item], exc: BaseException) -> None:
        err = ServiceUnavailable(f"The audit log could not be written ({type(exc).__name__}); the request was not completed.")
        for item in batch:
            if item.done is not None and not item.done.done():
                item.done.set_exception(err)

    async def _reconnect(self) -> None:
        try:
            if self._conn is not None:
                await self._conn.close()
            self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=False)
        except psycopg.Error as exc:
            log.warning("recorder reconnect failed: %s", exc)

    async def _write(self, batch: list[_Item]) -> None:
        conn = self._conn
        assert conn is not None
        events = [i.audit.row() for i in batch if i.audit is not None]
        ledger_rows = [
            tuple(Jsonb(r.get(c), dumps=_dumps) if c == "route" else r.get(c) for c in LEDGER_COLS)
            for i in batch
            if (r := i.ledger) is not None
        ]
        async with conn.transaction(), conn.cursor() as cur:
            if events:
                await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
                await cur.execute(_HEAD_SQL)
                head = await cur.fetchone()
                link(events, *(head or (0, GENESIS)))
                await cur.executemany(
                    _AUDIT_SQL,
                    [tuple(Jsonb(e[c], dumps=_dumps) if c == "detail" else e[c] for c in _AUDIT_COLS) for e in events],
                )
            if ledger_rows:
                await cur.executemany(_LEDGER_SQL, ledger_rows)
