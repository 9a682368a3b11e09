"""Cost-aware routing for virtual models with strategy `cost` (e.g. `auto`).

A plan filter, run last (after allow-lists and residency have removed what may not be used):

1. estimate the request's required tier and why (`gureum.routing.difficulty`);
2. lower it under budget pressure (`economy.auto.budget_pressure`);
3. estimate each remaining deployment's cost for this request (its prices × the estimated input
   tokens and the expected output tokens);
4. order the plan: deployments meeting the tier, cheapest first (those over the latency
   objective after the ones within it), then the ones below the tier as fallbacks, strongest
   first. Deployments of one model name at one price stay one load-balanced group.

Everything it decided is in the call's route notes under `auto` (candidates with estimated cost,
tier, median latency and verdict; the required tier and its reasons; why the winner won) and
`reason`, which becomes the `x-gureum-route` response header and is kept in the ledger's route
JSON.
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import Any

from gureum.economy.settings import AutoRouteSettings, EconomySettings
from gureum.routing.catalog import Deployment, Plan
from gureum.routing.difficulty import Estimator, HeuristicEstimator
from gureum.tokens import estimate_messages


class LatencyTracker:
    """Recent latencies per deployment and kind ("full": whole response; "stream": first chunk)."""

    def __init__(self, window: int = 200, min_samples: int = 10) -> None:
        self.window = window
        self.min_samples = min_samples
        self._data: dict[tuple[str, str], deque[float]] = {}

    def observe(self, deployment_id: str, kind: str, ms: float) -> None:
        self._data.setdefault((deployment_id, kind), deque(maxlen=self.window)).append(ms)

    def p50(self, deployment_id: str, kind: str) -> float | None:
        samples = self._data.get((deployment_id, kind))
        if not samples or len(samples) < self.min_samples:
            return None
        return float(statistics.median(samples))


def pressure_drop(cfg: AutoRouteSettings, pressure: float) -> int:
    return max((r.drop for r in cfg.budget_pressure if pressure >= r.at), default=0)


def estimated_cost(dep: Deployment, input_tokens: int, output_tokens: int) -> float:
    p = dep.settings.price
    return (input_tokens * p.input + output_tokens * p.output) / 1_000_000


def strongest(deployments: list[Deployment]) -> Deployment | None:
    """The candidate `auto` would use if cost did not matter: highest tier, then highest price."""
    if not deployments:
        return None
    return max(deployments, key=lambda d: (d.tier, d.settings.price.input + d.settings.price.output))


class AutoRoute:
    def __init__(
        self, settings: EconomySettings, estimator: Estimator | None = None, latency: LatencyTracker | None = None
    ) -> None:
        self.settings = settings
        self.estimator = estimator or HeuristicEstimator()
        self.latency = latency or LatencyTracker(settings.latency_window, settings.latency_min_samples)

    def order(self, plan: Plan, body: dict[str, Any], stream: bool, pressure: float, route: dict[str, Any]) -> Plan:
        """`plan` ordered for a call with `body` under budget `pressure` (0..1); a plan that is not
        of a `cost` virtual model is returned as it is."""
        vm = plan.virtual
        if vm is None or vm.strategy != "cost":
            return plan
        cfg = self.settings.for_virtual(plan.requested)
        difficulty = self.estimator.estimate(body)
        base = max(cfg.min_tier, difficulty.tier)
        drop = pressure_drop(cfg, pressure)
        required = max(cfg.min_tier, base - drop)
        input_tokens = estimate_messages(
            [m for m in body.get("messages") or [] if isinstance(m, dict)], body.get("tools") or None
        )
        max_out = body.get("max_tokens") or body.get("max_completion_tokens")
        output_tokens = min(int(max_out), cfg.expected_output_tokens) if max_out else cfg.expected_output_tokens
        kind = "stream" if stream else "full"

        order = {d.id: i for i, d in enumerate(plan.deployments())}
        rows: list[dict[str, Any]] = []
        for d in plan.deployments():
            p50 = self.latency.p50(d.id, kind)
            rows.append({
                "dep": d, "id": d.id, "tier": d.tier, "est_cost": estimated_cost(d, input_tokens, output_tokens),
                "p50_ms": round(p50, 1) if p50 is not None else None,
                "meets_tier": d.tier >= required,
                "slow": cfg.max_p50_ms is not None and p50 is not None and p50 > cfg.max_p50_ms,
            })
        fast = sorted((r for r in rows if r["meets_tier"] and not r["slow"]), key=lambda r: (r["est_cost"], -r["tier"], order[r["id"]]))
        slow = sorted((r for r in rows if r["meets_tier"] and r["slow"]), key=lambda r: (r["est_cost"], order[r["id"]]))
        below = sorted((r for r in rows if not r["meets_tier"]), key=lambda r: (-r["tier"], r["est_cost"], order[r["id"]]))
        ranked = fast + slow + below
        for r in rows:
            r["verdict"] = (
                "qualifies" if r in fast else
                f"over latency objective ({r['p50_ms']:.0f} ms > {cfg.max_p50_ms:.0f} ms): fallback" if r in slow else
                f"tier {r['tier']} < required {required}: fallback"
            )
        winner = ranked[0]
        why = self._why(winner, fast, slow, below, required)
        strong = strongest([r["dep"] for r in rows])
        route["auto"] = {
            "required_tier": required,
            "estimated_tier": difficulty.tier,
            "reasons": difficulty.reasons,
            "estimator": difficulty.source,
            "budget_pressure": round(pressure, 3),
            "tier_drop": drop,
            "estimated_tokens": {"input": input_tokens, "output": output_tokens},
            "candidates": [
                {k: (round(v, 8) if k == "est_cost" else v) for k, v in r.items() if k != "dep"} for r in ranked
            ],
            "winner": winner["id"],
            "why": why,
            "strongest": strong.id if strong else None,
            "features": {k: round(v, 4) for k, v in difficulty.features.items() if not k.startswith("_")},
        }
        pressure_note = f", lowered {drop} for budget pressure {pressure:.2f}" if drop else ""
        route["reason"] = (
            f"auto: tier>={required} ({'; '.join(difficulty.reasons[:2])}{pressure_note}); {why}"
        )
        return Plan(plan.requested, _groups([r["dep"] for r in ranked], {r["id"]: r["est_cost"] for r in rows}),
                    plan.virtual, {**plan.notes, "auto": True})

    @staticmethod
    def _why(winner: dict[str, Any], fast: list[dict[str, Any]], slow: list[dict[str, Any]],
             below: list[dict[str, Any]], required: int) -> str:
        if fast and winner is fast[0]:
            others = [r for r in fast if r["id"] != winner["id"]]
            tail = f" (next {others[0]['id']} est {others[0]['est_cost']:.6f})" if others else " (only one qualifies)"
            skipped = f"; {len(slow)} skipped for latency" if slow else ""
            return (f"cheapest of {len(fast)} at tier>={required}: {winner['id']} est {winner['est_cost']:.6f}"
                    f"{tail}{skipped}")
        if slow and winner is slow[0]:
            return f"every tier>={required} deployment is over the latency objective; cheapest: {winner['id']}"
        return f"no deployment reaches tier {required}; strongest available: {winner['id']} (tier {winner['tier']})"


def cheapest(plan: Plan, route: dict[str, Any]) -> Plan:
    """`plan` cut to its cheapest deployment (the stronger at one price) whose circuit is closed:
    for work the platform does on a call's behalf (a context summary), which should cost little
    and, when that deployment fails, falls back to a way that costs nothing rather than to a
    dearer model."""
    deps = list(plan.deployments())
    ready = [d for d in deps if d.breaker.available()] or deps
    best = min(ready, key=lambda d: (d.settings.price.input + d.settings.price.output, -d.tier))
    route["reason"] = f"cheapest permitted deployment: {best.id}"
    return Plan(plan.requested, [[best]], plan.virtual, dict(plan.notes))


def _groups(ranked: list[Deployment], cost: dict[str, float]) -> list[list[Deployment]]:
    """Consecutive deployments of one model name at one estimated cost stay one balanced group."""
    groups: list[list[Deployment]] = []
    for d in ranked:
        last = groups[-1] if groups else None
        if last and last[0].name == d.name and abs(cost[last[0].id] - cost[d.id]) < 1e-12:
            last.append(d)
        else:
            groups.append([d])
    return groups


__all__ = ["AutoRoute", "LatencyTracker", "cheapest", "estimated_cost", "pressure_drop", "strongest"]
