"""Load: sustained governed traffic from another process, then proof that it held.

Held means: no request failed; the server's memory (RSS of its whole process tree, sampled every
second) stayed flat — after a warm-up fifth of the run, the least-squares growth over the rest is
at most `RSS_TOLERANCE` of the mean or `RSS_FLOOR_MB`, whichever is larger; every answered request
has exactly one ledger row and one audit event; the tenant's budget counter equals what the
ledger says it spent, with nothing left reserved; no phone number reached the provider unmasked
and every caller got their own number back.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from gureum.prove.checks import Results
from gureum.prove.harness import tree_cpu, tree_rss
from gureum.prove.system import System

CHECKS = (
    "load.zero_errors",
    "load.rss_flat",
    "load.ledger_exactly_once",
    "load.audit_exactly_once",
    "load.budget_equals_ledger",
    "load.no_raw_pii_to_provider",
    "load.pii_round_trip",
)
# The gateway benchmark's governed flow with budgets and limits in Redis, chat at c = 16
# (docs/benchmarks.md, "gureum against the floor and LiteLLM"): the throughput the soak aims at.
BENCH_RPS = 596.0
RSS_TOLERANCE = 0.05
RSS_FLOOR_MB = 10.0
WARM_UP_SHARE = 0.2


class RssSampler:
    def __init__(self, pid: int, every: float = 1.0) -> None:
        self.pid = pid
        self.every = every
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss")

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - t0, tree_rss(self.pid)))
            self._stop.wait(self.every)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def rss_trend(samples: list[tuple[float, int]]) -> dict[str, float]:
    """Slope (MB/min) and growth (MB) over the steady part of the run, and the verdict's numbers."""
    steady = samples[int(len(samples) * WARM_UP_SHARE):]
    if len(steady) < 3:
        return {"slope_mb_min": 0.0, "growth_mb": 0.0, "mean_mb": 0.0, "allowed_mb": RSS_FLOOR_MB, "samples": len(steady)}
    xs = [t for t, _ in steady]
    ys = [r / 2**20 for _, r in steady]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs) or 1e-9
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / var  # MB/s
    growth = slope * (xs[-1] - xs[0])
    return {"slope_mb_min": round(slope * 60, 3), "growth_mb": round(growth, 2), "mean_mb": round(my, 1),
            "allowed_mb": round(max(RSS_FLOOR_MB, RSS_TOLERANCE * my), 1), "samples": len(steady),
            "start_mb": round(ys[0], 1), "end_mb": round(ys[-1], 1)}


def run(system: System, res: Results, *, seconds: float, concurrency: int, rate: float = 0.0) -> None:
    labels = [f"load-{i}" for i in range(4)]
    for i, label in enumerate(labels):
        system.key(label, "load", user=f"user{i % 2}")
    pid = system.server.pid
    assert pid is not None
    before = system.upstream_stats()
    cpu0 = tree_cpu(pid)
    with RssSampler(pid) as rss:
        proc = system.load(prefix="soak", seconds=seconds, concurrency=concurrency, keys=labels, rate=rate)
        out = system.load_result("soak", proc, wait=seconds + 120)
    cpu = tree_cpu(pid) - cpu0
    after = system.upstream_stats()
    answered: list[str] = out["answered"]
    failed = len(out["refused"]) + len(out["unknown"])
    res.check("load.zero_errors", failed == 0 and len(answered) > 0,
              f"{len(answered)} answered, {failed} failed {out['statuses']}; first: {out['errors'][:3]}")
    trend = rss_trend(rss.samples)
    res.check("load.rss_flat", trend["growth_mb"] <= trend["allowed_mb"],
              f"growth {trend['growth_mb']} MB over the steady part (allowed {trend['allowed_mb']} MB), "
              f"slope {trend['slope_mb_min']} MB/min")
    once = system.exactly_once("soak", answered)
    for table, name in (("ledger", "load.ledger_exactly_once"), ("audit_events", "load.audit_exactly_once")):
        o = once[table]
        res.check(name, not o["missing"] and not o["duplicated"],
                  f"{len(o['missing'])} missing, {len(o['duplicated'])} duplicated of {len(answered)}")
        res.lost.extend(f"{table}:{r}" for r in o["missing"])
    budget = system.budget_vs_ledger("load")
    res.check("load.budget_equals_ledger",
              budget["exists"] and abs(budget["counter"] - budget["ledger"]) <= budget["rows"] and budget["reserved"] == 0,
              f"counter {budget['counter']} µ, ledger {budget['ledger']} µ over {budget['rows']} rows, "
              f"{budget['reserved']} µ still reserved")
    raw = after["raw_pii"] - before["raw_pii"]
    res.check("load.no_raw_pii_to_provider", raw == 0,
              f"{raw} of {after['requests'] - before['requests']} provider requests carried a raw phone number")
    res.check("load.pii_round_trip", out["leaked_placeholders"] == 0 and out["lost_pii"] == 0,
              f"{out['leaked_placeholders']} answers showed a placeholder, {out['lost_pii']} lost the caller's number")
    figures: dict[str, Any] = {
        "seconds": out["wall_seconds"], "concurrency": concurrency, "requests": len(answered), "failed": failed,
        "rps": out["rps"], "bench_rps": BENCH_RPS, "share_of_bench": round(out["rps"] / BENCH_RPS, 2),
        "p50_ms": out["p50_ms"], "p99_ms": out["p99_ms"], "max_ms": out["max_ms"],
        "server_cpu_ms_per_req": round(cpu * 1000 / max(1, len(answered)), 2), "rss": trend,
    }
    res.figure("load", **figures)


def run_part(system: System, res: Results, profile: Any) -> None:
    run(system, res, seconds=profile.load_seconds, concurrency=profile.load_concurrency)
