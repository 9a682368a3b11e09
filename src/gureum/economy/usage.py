"""Usage and cost reports from the ledger: grouped totals, month-end projections against
budgets, and what caches and routing saved — shown separately:

- `cache_saved`: sum of the ledger's `cost_saved` — for each cache hit, what the stored answer
  cost when a model produced it (what the hit would have cost);
- `routing_saved`: sum of `route.saved_vs_strongest` — for each `auto` request, the cost of the
  strongest candidate (highest tier, then highest price) at the same tokens minus the actual cost;
- `shadow_compared` / `shadow_false_hits`: the semantic cache's shadow sample — hits also answered
  by the model, and those whose answers differed (their ratio is the measured false-hit rate).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, and_, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.store.tables import ledger

# `origin` is the workload that made a call (api, agent, job, knowledge, cli, …): the seed's cost view per workload.
GROUPS = ("tenant", "user", "key", "model", "deployment", "provider", "region", "endpoint", "origin", "day")
_COLUMNS = {
    "tenant": ledger.c.tenant_id, "user": ledger.c.user_id, "key": ledger.c.key_id, "model": ledger.c.model,
    "deployment": ledger.c.deployment, "provider": ledger.c.provider, "region": ledger.c.region,
    "endpoint": ledger.c.endpoint, "origin": ledger.c.origin,
}
METRICS = (
    "requests", "errors", "input_tokens", "output_tokens", "cached_tokens", "tokens_saved", "cost", "cache_hits",
    "cache_saved", "routing_saved", "shadow_compared", "shadow_false_hits",
)


@dataclass
class UsageQuery:
    tenant_id: str | None = None  # None = every tenant (platform admins only)
    group_by: list[str] = field(default_factory=lambda: ["tenant", "model"])
    since: datetime | None = None
    until: datetime | None = None
    timezone: str = "UTC"  # days are cut in this zone


def parse_group_by(raw: str | list[str] | None) -> list[str]:
    parts = raw if isinstance(raw, list) else (raw or "").split(",")
    out = [p.strip().lower() for p in parts if p and p.strip()]
    unknown = [p for p in out if p not in GROUPS]
    if unknown:
        raise ValueError(f"unknown group_by {', '.join(unknown)} (choose from {', '.join(GROUPS)})")
    return list(dict.fromkeys(out))


def _metrics() -> list[Any]:
    c = ledger.c
    saved_routing = func.coalesce(cast(c.route["saved_vs_strongest"].astext, Float), 0.0)
    return [
        func.count().label("requests"),
        func.count().filter(c.status >= 400).label("errors"),
        func.coalesce(func.sum(c.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(c.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(c.cached_tokens), 0).label("cached_tokens"),
        func.coalesce(func.sum(c.tokens_saved), 0).label("tokens_saved"),
        func.coalesce(func.sum(c.cost), 0.0).label("cost"),
        func.count().filter(c.cache.isnot(None)).label("cache_hits"),
        func.coalesce(func.sum(c.cost_saved), 0.0).label("cache_saved"),
        func.coalesce(func.sum(saved_routing), 0.0).label("routing_saved"),
        # The semantic cache's shadow sample (gureum.cache.shadow): compared hits, and those that differed.
        func.count().filter(c.route["shadow"]["compared"].astext == "true").label("shadow_compared"),
        func.count().filter(c.route["shadow"]["different"].astext == "true").label("shadow_false_hits"),
    ]


def _where(q: UsageQuery) -> Any:
    c = ledger.c
    conds = []
    if q.tenant_id is not None:
        conds.append(c.tenant_id == q.tenant_id)
    if q.since is not None:
        conds.append(c.ts >= q.since)
    if q.until is not None:
        conds.append(c.ts < q.until)
    return and_(True, *conds)


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, datetime):
            v = v.date().isoformat()
        elif isinstance(v, date):
            v = v.isoformat()
        elif k in ("cost", "cache_saved", "routing_saved"):
            v = round(float(v or 0.0), 10)
        elif k in METRICS:
            v = int(v or 0)
        out[k] = v
    return out


async def report(engine: AsyncEngine, q: UsageQuery) -> list[dict[str, Any]]:
    """One row per group with every metric; groups sorted by day then by cost (highest first)."""
    keys = []
    for g in q.group_by:
        if g == "day":
            keys.append(func.date_trunc("day", func.timezone(q.timezone, ledger.c.ts)).label("day"))
        else:
            keys.append(_COLUMNS[g].label(g))
    stmt = select(*keys, *_metrics()).where(_where(q))
    if keys:
        stmt = stmt.group_by(*keys)
    order = [k for k in keys if k.name == "day"] + [func.sum(ledger.c.cost).desc()] + keys
    stmt = stmt.order_by(*order)
    async with engine.connect() as conn:
        return [_clean(dict(r)) for r in (await conn.execute(stmt)).mappings()]


async def totals(engine: AsyncEngine, q: UsageQuery) -> dict[str, Any]:
    stmt = select(*_metrics()).where(_where(q))
    async with engine.connect() as conn:
        return _clean(dict((await conn.execute(stmt)).mappings().one()))


def _budgets(settings: Any, tenant_id: str) -> list[Any]:
    """The tenant's tenant-scope budgets from `settings.governance`, read defensively (the
    governance settings are optional to this module)."""
    gov = getattr(settings, "governance", None)
    if gov is None:
        return []
    tenant = (getattr(gov, "tenants", None) or {}).get(tenant_id)
    budgets = getattr(tenant, "budgets", None) if tenant is not None else None
    if budgets is None:
        budgets = getattr(getattr(gov, "defaults", None), "budgets", None) or []
    return [b for b in budgets if getattr(b, "scope", "tenant") == "tenant" and getattr(b, "limit", None) is not None]


def timezone_of(settings: Any) -> str:
    return str(getattr(getattr(settings, "governance", None), "timezone", None) or "UTC")


async def projections(
    engine: AsyncEngine, settings: Any, tenant_id: str | None, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Per tenant: month-to-date spend, its linear extrapolation to the month's end, today's
    spend, and each tenant-scope budget with the figure it is compared to."""
    tz = ZoneInfo(timezone_of(settings))
    now = (now or datetime.now(UTC)).astimezone(tz)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    days = calendar.monthrange(now.year, now.month)[1]
    month_end = month_start + timedelta(days=days)
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = max((now - month_start).total_seconds() / (month_end - month_start).total_seconds(), 1e-6)
    c = ledger.c
    stmt = select(
        c.tenant_id,
        func.coalesce(func.sum(c.cost), 0.0).label("mtd"),
        func.coalesce(func.sum(c.cost).filter(c.ts >= day_start), 0.0).label("today"),
    ).where(c.ts >= month_start, c.ts < month_end)
    if tenant_id is not None:
        stmt = stmt.where(c.tenant_id == tenant_id)
    stmt = stmt.group_by(c.tenant_id).order_by(c.tenant_id)
    async with engine.connect() as conn:
        rows = {r.tenant_id: (float(r.mtd), float(r.today)) for r in await conn.execute(stmt)}
    if tenant_id is not None and tenant_id not in rows:
        rows[tenant_id] = (0.0, 0.0)
    out = []
    for tenant, (mtd, today) in sorted(rows.items()):
        projected = mtd / elapsed
        budgets = []
        for b in _budgets(settings, tenant):
            period = getattr(b, "period", "month")
            limit = float(b.limit)
            figure = projected if period == "month" else today
            budgets.append({
                "period": period, "limit": limit, "mode": getattr(b, "mode", None),
                "compared": "projected month total" if period == "month" else "spend today",
                "value": round(figure, 6), "ratio": round(figure / limit, 4) if limit else None,
                "over": figure > limit,
            })
        out.append({
            "tenant": tenant, "month": month_start.strftime("%Y-%m"), "timezone": str(tz),
            "month_to_date": round(mtd, 6), "elapsed_fraction": round(elapsed, 4),
            "projected_month_end": round(projected, 6), "today": round(today, 6), "budgets": budgets,
        })
    return out


async def label_outcome(engine: AsyncEngine, request_id: str, good: bool, tenant_id: str | None = None) -> int:
    """Mark a logged request's answer as good or bad (`route.outcome`), the label
    `gureum route train --from-ledger` learns from. Returns the rows updated."""
    c = ledger.c
    stmt = (
        update(ledger)
        .where(c.request_id == request_id, c.route.isnot(None))
        .values(route=c.route.op("||")(func.jsonb_build_object("outcome", "good" if good else "bad")))
    )
    if tenant_id is not None:
        stmt = stmt.where(c.tenant_id == tenant_id)
    async with engine.begin() as conn:
        return (await conn.execute(stmt)).rowcount or 0


async def training_rows(engine: AsyncEngine, since: datetime | None = None) -> list[dict[str, Any]]:
    """Ledger rows of `auto` requests that carry an outcome label."""
    c = ledger.c
    stmt = select(c.route).where(c.route.has_key("auto"), c.route.has_key("outcome"))  # noqa: W601
    if since is not None:
        stmt = stmt.where(c.ts >= since)
    async with engine.connect() as conn:
        return [r.route for r in await conn.execute(stmt)]


__all__ = ["GROUPS", "METRICS", "UsageQuery", "label_outcome", "parse_group_by", "projections", "report", "totals",
           "training_rows"]
