"""Budgets: spending caps per tenant, user or key, per day or month, hard or soft.

A request reserves its worst case (estimated input tokens plus `max_tokens`, or the deployment's
`max_output_tokens`, at the most expensive candidate's price) before the call and settles its
real cost after it, so concurrent requests — on any number of replicas sharing Redis — cannot
together overspend a hard budget. The ledger is the durable truth: a counter that does not exist
yet (first use in a period, Redis restarted or evicted) is seeded from the ledger's sum for the
period before anything is reserved against it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.governance.counters import UNITS, BudgetSpec
from gureum.governance.principal import Principal
from gureum.governance.settings import BudgetSettings
from gureum.store.tables import ledger

KEEP_AFTER_PERIOD = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Window:
    start: datetime
    end: datetime
    label: str  # 2025-03-01 for a day, 2025-03 for a month


_current: dict[tuple[str, str], Window] = {}


def window(period: str, now: datetime, tz: ZoneInfo) -> Window:
    """The day or month containing `now` in `tz` (the current one is cached: this runs per request)."""
    cached = _current.get((period, tz.key))
    if cached is not None and cached.start <= now < cached.end:
        return cached
    w = _window(period, now, tz)
    _current[(period, tz.key)] = w
    return w


def _window(period: str, now: datetime, tz: ZoneInfo) -> Window:
    local = now.astimezone(tz)
    if period == "day":
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        end = start + timedelta(days=1)  # wall-clock arithmetic: the next local midnight
        return Window(start, end, start.strftime("%Y-%m-%d"))
    start = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = (start + timedelta(days=32)).replace(day=1)
    return Window(start, end, start.strftime("%Y-%m"))


@dataclass(frozen=True, slots=True)
class Applied:
    """One budget as it applies to one request: what it is, whose, and the counter's spec."""

    rule: BudgetSettings
    subject: str
    window: Window
    spec: BudgetSpec

    @property
    def name(self) -> str:
        return f"{self.rule.mode} {self.rule.period} budget of {self.rule.scope} '{self.subject}'"


def subject(rule: BudgetSettings, p: Principal) -> str | None:
    if rule.scope == "tenant":
        return p.tenant_id
    if rule.scope == "user":
        return p.user_id
    return p.key_id


def budget_key(prefix: str, tenant: str, rule: BudgetSettings, subj: str, w: Window) -> str:
    return f"{prefix}:{{t:{tenant}}}:b:{rule.scope}:{subj}:{rule.period}:{w.label}"


def to_units(amount: float) -> int:
    return math.ceil(amount * UNITS - 1e-6)


def applicable(
    rules: tuple[BudgetSettings, ...], p: Principal, worst_case: float, prefix: str, tz: ZoneInfo, now: datetime
) -> list[Applied]:
    out: list[Applied] = []
    amount = to_units(worst_case)
    for rule in rules:
        subj = subject(rule, p)
        if subj is None:
            continue
        w = window(rule.period, now, tz)
        ttl = int((w.end - now + KEEP_AFTER_PERIOD).total_seconds() * 1000)
        spec = BudgetSpec(budget_key(prefix, p.tenant_id, rule, subj, w), to_units(rule.limit), amount,
                          rule.mode == "hard", ttl)
        out.append(Applied(rule, subj, w, spec))
    return out


async def ledger_spent(engine: AsyncEngine, tenant_id: str, applied: Applied) -> int:
    """What the ledger says this budget's subject spent in the budget's period (micro-units)."""
    c = ledger.c
    q = select(func.coalesce(func.sum(c.cost), 0.0)).where(
        c.tenant_id == tenant_id, c.ts >= applied.window.start.astimezone(UTC), c.ts < applied.window.end.astimezone(UTC)
    )
    if applied.rule.scope == "user":
        q = q.where(c.user_id == applied.subject)
    elif applied.rule.scope == "key":
        q = q.where(c.key_id == applied.subject)
    async with engine.connect() as conn:
        total = (await conn.execute(q)).scalar_one()
    return to_units(float(total))


def pressure(applied: list[Applied], before: list[tuple[int, int]]) -> float:
    """Spend (settled + in flight) over limit, the largest over the request's budgets, 0..1."""
    worst = 0.0
    for a, (spent, reserved) in zip(applied, before, strict=False):
        if a.spec.limit <= 0:
            worst = 1.0
            continue
        worst = max(worst, (spent + reserved) / a.spec.limit)
    return min(1.0, worst)


def money(units: int) -> str:
    """12.5 -> '12.50', 0.000123 -> '0.000123'."""
    whole, frac = f"{units / UNITS:.6f}".split(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


__all__ = ["Applied", "Window", "applicable", "budget_key", "ledger_spent", "money", "pressure", "to_units", "window"]
