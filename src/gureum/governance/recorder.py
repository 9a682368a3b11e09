"""Group commit for the ledger and the audit chain.

Requests hand their ledger row and audit event to one writer task per process; it writes
everything queued with one call of the `gureum_append` database function (one round trip, one
transaction) and then releases the waiters. The function extends the chain under an advisory
lock, so replicas keep one linear chain. A request is answered only after its audit event is
committed, so a kill right after answering cannot lose it, while the database sees one
transaction per batch instead of one per request.

It uses one dedicated psycopg connection rather than the SQLAlchemy pool: this is the hottest
write path and needs nothing but one statement per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC
from typing import Any

import orjson
import psycopg

from gureum.errors import ServiceUnavailable
from gureum.governance.audit import AuditEvent, content_digest

log = logging.getLogger("gureum.recorder")

_APPEND_SQL = "SELECT gureum_append(%s::jsonb, %s::jsonb)"


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
        self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        self._task = asyncio.create_task(self._run(), name="gureum-recorder")

    async def stop(self) -> None:
        """Flush everything queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):  # the cancellation just asked for
            await self._task
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
            self._conn = await psycopg.AsyncConnection.connect(self.dsn, autocommit=True)
        except psycopg.Error as exc:
            log.warning("recorder reconnect failed: %s", exc)

    async def _write(self, batch: list[_Item]) -> None:
        conn = self._conn
        assert conn is not None
        events = []
        for item in batch:
            if item.audit is not None:
                row = item.audit.row()
                row["digest"] = content_digest(row)
                row["ts"] = row["ts"].astimezone(UTC).isoformat(timespec="microseconds")
                events.append(row)
        ledger_rows = [i.ledger for i in batch if i.ledger is not None]
        # One statement in autocommit: the function extends the chain under its lock, inserts
        # the ledger rows, and commits — one round trip per batch.
        await conn.execute(_APPEND_SQL, (_dumps(events), _dumps(ledger_rows)))
