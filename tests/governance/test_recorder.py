"""The group-commit writer: two writers (as two replicas) appending concurrently keep one
linear, verifiable chain, and every ledger row lands exactly once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from gureum.governance.audit import AuditEvent, verify
from gureum.governance.recorder import Recorder
from gureum.store import open_store


def _ledger(i: int, writer: str) -> dict[str, object]:
    return {"ts": datetime.now(UTC), "request_id": f"{writer}-{i}", "tenant_id": "t", "endpoint": "chat",
            "status": 200, "cost": 0.001, "input_tokens": 3, "output_tokens": 5, "cached_tokens": 0,
            "tokens_saved": 0, "cost_saved": 0.0, "latency_ms": 1.0}


async def test_two_writers_keep_one_chain(database_url: str) -> None:
    store = await open_store(Path("."), database_url, pool_size=1)
    a, b = Recorder(database_url), Recorder(database_url)
    await a.start()
    await b.start()

    async def write(rec: Recorder, name: str) -> None:
        for i in range(40):
            futs = [rec.submit(ledger=_ledger(i * 3 + j, name), audit=AuditEvent(action="api.chat", request_id=f"{name}-{i * 3 + j}"))
                    for j in range(3)]
            await asyncio.gather(*futs)

    await asyncio.gather(write(a, "a"), write(b, "b"))
    await a.stop()
    await b.stop()
    result = await verify(store.engine)
    await store.close()
    assert result.ok and result.checked == 240
    with psycopg.connect(database_url) as conn:
        n, distinct = conn.execute("SELECT count(*), count(DISTINCT request_id) FROM ledger").fetchone()
    assert n == distinct == 240
