#!/usr/bin/env python3
"""A million audit events and a million ledger rows, seeded with COPY, then: how long verifying
the whole chain takes, and the p50/p95 of the per-document retrieval audit query and of usage
summaries (docs/benchmarks.md).

The events form a valid chain (hashed here exactly as `gureum_append` would), a tenth of them
retrievals naming five chunks each, so `audit_documents` fills through its trigger as it would
in production.

    .venv/bin/python bench/audit_million.py                  # 1M + 1M
    .venv/bin/python bench/audit_million.py --events 100000 --ledger 100000
Only the embedded PostgreSQL under bench/.work (or GUREUM_BENCH_DATABASE_URL) is contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform as host
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import database_url  # noqa: E402

from gureum.economy.usage import UsageQuery, report  # noqa: E402
from gureum.governance import audit  # noqa: E402
from gureum.governance.audit import GENESIS, content_digest  # noqa: E402
from gureum.governance.audit_documents import DocumentQuery, retrievals_of  # noqa: E402
from gureum.store import open_store  # noqa: E402

TENANTS = [f"t{i:02d}" for i in range(20)]
MODELS = ["gpt-4o-mini", "claude-haiku", "local-chat", "solar-mini", "rag/wiki"]
START = datetime(2026, 11, 1, tzinfo=UTC)
EVENT_COLUMNS = ("seq", "ts", "event_id", "request_id", "tenant_id", "user_id", "key_id", "action", "resource",
                 "decision", "status", "cost", "detail", "prev_hash", "hash", "tenant_seq")
LEDGER_COLUMNS = ("ts", "request_id", "tenant_id", "user_id", "key_id", "endpoint", "origin", "model",
                  "deployment", "provider", "region", "input_tokens", "output_tokens", "cost", "latency_ms", "status")


def _doc(rng: random.Random) -> int:
    """Document ids with a long tail: document 1 is the most retrieved."""
    return min(int(rng.paretovariate(1.2)), 50_000)


def seed_events(dsn: str, n: int) -> float:
    import hashlib

    rng = random.Random(17)
    t0 = time.perf_counter()
    prev = GENESIS
    tenant_seq = dict.fromkeys(TENANTS, 0)
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY audit_events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for seq in range(1, n + 1):
                tenant = TENANTS[seq % len(TENANTS)]
                tenant_seq[tenant] += 1
                user = f"u{rng.randrange(500)}"
                model = MODELS[seq % len(MODELS)]
                if seq % 10 == 0:
                    doc = _doc(rng)
                    returned = [{"document_id": doc if i == 0 else _doc(rng), "chunk_id": seq * 5 + i} for i in range(5)]
                    action = "api.retrieve"
                    detail = {"model": "rag/wiki", "endpoint": "retrieve", "retrieval": {
                        "collection": "wiki", "query": "연차 휴가 규정 [KR_PHONE]", "principals": ["*", f"user:{user}"],
                        "role": "member", "returned": returned, "cited": [c["chunk_id"] for c in returned[:2]]}}
                else:
                    action = "api.chat"
                    detail = {"model": model, "endpoint": "chat", "usage": {"input": rng.randrange(2000), "output": rng.randrange(500)}}
                row = {"seq": seq, "ts": START + timedelta(milliseconds=seq * 2), "event_id": f"{seq:032x}",
                       "request_id": f"req-{seq}", "tenant_id": tenant, "user_id": user, "key_id": f"k{user}",
                       "action": action, "resource": f"model:{model}", "decision": "allow", "status": 200,
                       "cost": round(rng.random() / 100, 6), "detail": detail}
                h = hashlib.sha256(f"{prev}\n{seq}\n{content_digest(row)}".encode()).hexdigest()
                copy.write_row((seq, row["ts"], row["event_id"], row["request_id"], tenant, user, row["key_id"], action,
                                row["resource"], "allow", 200, row["cost"], orjson.dumps(detail).decode(), prev, h,
                                tenant_seq[tenant]))
                prev = h
        conn.commit()
    return time.perf_counter() - t0


def seed_ledger(dsn: str, n: int) -> float:
    rng = random.Random(18)
    t0 = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        with cur.copy(f"COPY ledger ({', '.join(LEDGER_COLUMNS)}) FROM STDIN") as copy:
            for i in range(n):
                model = MODELS[i % len(MODELS)]
                user = f"u{rng.randrange(500)}"
                copy.write_row((START + timedelta(seconds=i * 2.5), f"req-l{i}", TENANTS[i % len(TENANTS)], user,
                                f"k{user}", "chat", "api", model, f"{model}@p", "p", "us", rng.randrange(2000),
                                rng.randrange(500), rng.random() / 100, rng.random() * 900, 200))
        conn.commit()
        conn.execute("ANALYZE ledger")
        conn.execute("ANALYZE audit_events")
        conn.execute("ANALYZE audit_documents")
        conn.commit()
    return time.perf_counter() - t0


async def timed(fn, runs: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"p50_ms": round(statistics.median(times), 2), "p95_ms": round(times[int(len(times) * 0.95) - 1], 2),
            "runs": runs}


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--ledger", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "audit_million.json")
    args = ap.parse_args()
    url = database_url()
    store = await open_store(Path("."), url, pool_size=2)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    out: dict[str, object] = {"machine": f"{host.machine()} {host.processor() or ''} cpus={__import__('os').cpu_count()}",
                              "events": args.events, "ledger_rows": args.ledger}
    try:
        out["seed_events_s"] = round(seed_events(dsn, args.events), 1)
        out["seed_ledger_s"] = round(seed_ledger(dsn, args.ledger), 1)
        with psycopg.connect(dsn) as conn:
            out["audit_documents_rows"] = conn.execute("SELECT count(*) FROM audit_documents").fetchone()[0]  # type: ignore[index]
        print(json.dumps(out), flush=True)
        t0 = time.perf_counter()
        result = await audit.verify(store.engine)
        out["verify_s"] = round(time.perf_counter() - t0, 2)
        out["verify_ok"] = result.ok and result.checked == args.events
        print(json.dumps(out), flush=True)
        popular = DocumentQuery(document_id=1, tenant_id="t03", tenant_view=True, limit=100)
        out["document_query_popular"] = await timed(lambda: retrievals_of(store.engine, popular), args.runs)
        rng = random.Random(5)
        out["document_query_tail"] = await timed(lambda: retrievals_of(store.engine, DocumentQuery(
            document_id=rng.randrange(2, 200), tenant_id=None, limit=100)), args.runs)
        month = UsageQuery(tenant_id="t07", group_by=["model"], since=START, until=START + timedelta(days=30))
        out["usage_tenant_month_by_model"] = await timed(lambda: report(store.engine, month), args.runs)
        day = UsageQuery(tenant_id="t07", group_by=["day", "model"], since=START, until=START + timedelta(days=30))
        out["usage_tenant_by_day_model"] = await timed(lambda: report(store.engine, day), args.runs)
        everyone = UsageQuery(tenant_id=None, group_by=["tenant", "model"], since=START + timedelta(days=20),
                              until=START + timedelta(days=21))
        out["usage_all_tenants_one_day"] = await timed(lambda: report(store.engine, everyone), args.runs)
    finally:
        await store.close()
    print(json.dumps(out, indent=1))
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
