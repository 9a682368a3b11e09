"""Running the parts and printing what held.

Each part gets a fresh system (its own PostgreSQL, Redis, upstream and server), because the fault
part kills and restarts all of them and the load part needs a quiet server to measure. The short
version (CI) runs every part with small numbers; the full one soaks for minutes.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from gureum.prove.checks import Results
from gureum.prove.system import System, running


@dataclass(frozen=True)
class Profile:
    load_seconds: float
    load_concurrency: int
    fault_seconds: float
    examples: int  # hypothesis examples per property
    schema_examples: int  # schemathesis examples per operation
    fuzz_seconds: float


SHORT = Profile(load_seconds=20, load_concurrency=8, fault_seconds=6, examples=60, schema_examples=8, fuzz_seconds=10)
FULL = Profile(load_seconds=300, load_concurrency=16, fault_seconds=20, examples=400, schema_examples=50,
               fuzz_seconds=120)


@dataclass(frozen=True)
class Part:
    """A part is a module with `CHECKS` (the names it reports), `run_part(system, results,
    profile)` and optionally `SYSTEM` (keyword arguments of `system.running`)."""

    name: str
    module: str

    def load(self) -> Any:
        return importlib.import_module(self.module)


PARTS = (
    Part("load", "gureum.prove.load"),
    Part("faults", "gureum.prove.faults"),
    Part("badinput", "gureum.prove.badinput"),
    Part("isolation", "gureum.prove.isolation"),
)


def declared(parts: tuple[str, ...] | None = None) -> tuple[str, ...]:
    """Every check name the chosen parts report (what CI parametrizes over)."""
    names: list[str] = []
    for part in PARTS:
        if parts is None or part.name in parts:
            names.extend(part.load().CHECKS)
    return tuple(names)


def run(parts: tuple[str, ...] | None, profile: Profile, *, keep: bool = False,
        progress: Callable[[str], None] = print) -> Results:
    res = Results()
    for part in PARTS:
        if parts is not None and part.name not in parts:
            continue
        mod = part.load()
        progress(f"prove: {part.name} …")
        error = None
        try:
            with running(keep=keep, **getattr(mod, "SYSTEM", {})) as system:
                mod.run_part(system, res, profile)
        except Exception as exc:  # noqa: BLE001 — a part that breaks is a failed part, reported below
            error = f"{type(exc).__name__}: {exc}"
            res.figure(part.name, error=error, traceback=traceback.format_exc()[-2000:])
        res.missing(mod.CHECKS, error)
    return res


def summary(res: Results) -> Table:
    """The five lines a reader wants: load held, faults survived, bad inputs tried, leaks, data lost."""
    def part(prefix: str) -> tuple[int, int]:
        cs = [c for c in res.checks if c.name.startswith(prefix + ".")]
        return sum(c.ok for c in cs), len(cs)

    t = Table(title="gureum prove")
    t.add_column("what")
    t.add_column("result")
    t.add_column("held", justify="center")
    lp, ln = part("load")
    f = res.figures.get("load", {})
    rss = f.get("rss", {})
    t.add_row("load held", f"{f.get('requests', 0)} requests in {f.get('seconds', 0)} s at c={f.get('concurrency')}: "
              f"{f.get('rps', 0)} req/s ({f.get('share_of_bench', 0)}× the benchmark's {f.get('bench_rps')}), "
              f"{f.get('failed', 0)} failed, p99 {f.get('p99_ms')} ms, RSS {rss.get('start_mb')}→{rss.get('end_mb')} MB "
              f"(slope {rss.get('slope_mb_min')} MB/min); {lp}/{ln} checks", _mark(lp == ln, ran=ln > 0))
    fp, fn = part("faults")
    t.add_row("faults survived", f"{fp}/{fn} checks", _mark(fp == fn, ran=fn > 0))
    bp, bn = part("badinput")
    b = res.figures.get("badinput", {})
    t.add_row("bad inputs tried", f"{b.get('inputs', 0)} inputs; {bp}/{bn} checks", _mark(bp == bn, ran=bn > 0))
    ip, inn = part("isolation")
    i = res.figures.get("isolation", {})
    t.add_row("leaks found", f"{len(res.leaks)} leaks; {i.get('cells', 0)} matrix cells; {ip}/{inn} checks",
              _mark(not res.leaks and ip == inn, ran=inn > 0))
    t.add_row("data lost", f"{len(res.lost)} answered requests missing from ledger or audit",
              _mark(not res.lost, ran=any(c.name.endswith("exactly_once") for c in res.checks)))
    return t


def failures(res: Results) -> Table:
    t = Table(title="failed checks")
    t.add_column("check")
    t.add_column("what was seen")
    for c in res.checks:
        if not c.ok:
            t.add_row(c.name, c.detail[:400])
    return t


def _mark(ok: bool, *, ran: bool) -> str:
    # A part left out with --part is not a failure; the exit status comes from the checks alone.
    if not ran:
        return "[dim]not run[/]"
    return "[green]yes[/]" if ok else "[red]NO[/]"


def render(res: Results, console: Console) -> None:
    console.print(summary(res))
    if not res.ok:
        console.print(failures(res))


__all__ = ["FULL", "PARTS", "SHORT", "Profile", "System", "declared", "render", "run"]
