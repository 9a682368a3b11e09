"""The overview's time series: ledger totals per hour or day with latency percentiles, filtered
on (tenant_id, ts) so the `ledger_tenant_ts` index serves a tenant's range."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Float, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.store.tables import ledger

Bucket = Literal["hour", "day"]


async def series(engine: AsyncEngine, tenant_id: str | None, since: datetime, until: datetime, bucket: Bucket,
                 timezone: str = "UTC") -> list[dict[str, Any]]:
    """One row per bucket that has requests. `tenant_id` None means every tenant: the caller
    passes what `api.access.tenant_scope` decided, never a raw request value."""
    c = ledger.c
    start = func.date_trunc(bucket, func.timezone(timezone, c.ts)).label("bucket")
    conds = [c.ts >= since, c.ts < until]
    if tenant_id is not None:
        conds.append(c.tenant_id == tenant_id)
    stmt = (
        select(
            start,
            func.count().label("requests"),
            func.count().filter(c.status >= 400).label("errors"),
            func.coalesce(func.sum(c.input_tokens + c.output_tokens), 0).label("tokens"),
            func.coalesce(func.sum(c.cost), 0.0).label("cost"),
            func.coalesce(func.sum(c.cost_saved), 0.0).label("cache_saved"),
            func.percentile_cont(0.5).within_group(c.latency_ms).label("p50"),
            func.percentile_cont(0.95).within_group(c.latency_ms).label("p95"),
        )
        .where(and_(*conds))
        .group_by(start)
        .order_by(start)
    )
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [
        {"bucket": r["bucket"].isoformat(timespec="minutes"), "requests": int(r["requests"]),
         "errors": int(r["errors"]), "tokens": int(r["tokens"]), "cost": round(float(r["cost"]), 10),
         "cache_saved": round(float(r["cache_saved"]), 10), "p50": round(float(r["p50"] or 0.0), 2),
         "p95": round(float(r["p95"] or 0.0), 2)}
        for r in rows
    ]


async def latency(engine: AsyncEngine, tenant_id: str | None, since: datetime, until: datetime) -> dict[str, float]:
    """p50/p95 over the whole range (percentiles do not add up across buckets)."""
    c = ledger.c
    conds = [c.ts >= since, c.ts < until]
    if tenant_id is not None:
        conds.append(c.tenant_id == tenant_id)
    stmt = select(
        func.percentile_cont(0.5).within_group(cast(c.latency_ms, Float)).label("p50"),
        func.percentile_cont(0.95).within_group(cast(c.latency_ms, Float)).label("p95"),
    ).where(and_(*conds))
    async with engine.connect() as conn:
        r = (await conn.execute(stmt)).mappings().one()
    return {"p50": round(float(r["p50"] or 0.0), 2), "p95": round(float(r["p95"] or 0.0), 2)}


async def auto_decisions(engine: AsyncEngine, tenant_id: str | None, limit: int = 50) -> list[dict[str, Any]]:
    """The newest requests the `auto` router placed, with the explanation it stored in the ledger
    (`route.auto`: difficulty, candidates, why the winner). Newest first along `ledger_tenant_ts`."""
    c = ledger.c
    stmt = (
        select(c.ts, c.request_id, c.tenant_id, c.user_id, c.deployment, c.cost, c.latency_ms, c.status,
               c.route["auto"].label("auto"), c.route["reason"].astext.label("reason"),
               c.route["saved_vs_strongest"].astext.label("saved"))
        .where(c.route.has_key("auto"))  # noqa: W601
        .order_by(c.ts.desc())
        .limit(limit)
    )
    if tenant_id is not None:
        stmt = stmt.where(c.tenant_id == tenant_id)
    async with engine.connect() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [{**dict(r), "ts": r["ts"].isoformat(timespec="seconds"),
             "saved": float(r["saved"]) if r["saved"] is not None else None} for r in rows]


__all__ = ["Bucket", "auto_decisions", "latency", "series"]
