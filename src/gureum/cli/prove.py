"""`gureum prove`: attack a running gureum as a whole — load, faults, bad input, isolation — and
print what held (docs/reliability.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console


def prove(
    short: bool = typer.Option(False, "--short", help="The CI version: every part with small numbers (minutes)."),
    part: list[str] = typer.Option([], "--part", "-p", help="Only these parts (load, faults, badinput, isolation)."),
    seconds: float | None = typer.Option(None, "--seconds", help="Soak length in seconds (full: 300, short: 20)."),
    concurrency: int | None = typer.Option(None, "--concurrency", help="Load concurrency (full: 16, short: 8)."),
    json_out: Path | None = typer.Option(None, "--json", help="Write every check and figure to this file."),
    keep: bool = typer.Option(False, "--keep", help="Keep the scratch directories (server logs, configs)."),
) -> None:
    """Run the reliability suite against real processes on loopback; exit 1 if anything failed."""
    import dataclasses

    from gureum.prove import suite

    known = {p.name for p in suite.PARTS}
    unknown = sorted(set(part) - known)
    if unknown:
        raise typer.BadParameter(f"unknown part {', '.join(unknown)}; choose from {', '.join(sorted(known))}")
    profile = suite.SHORT if short else suite.FULL
    overrides: dict[str, Any] = {k: v for k, v in (("load_seconds", seconds), ("load_concurrency", concurrency)) if v is not None}
    profile = dataclasses.replace(profile, **overrides)
    console = Console(stderr=False)
    res = suite.run(tuple(part) or None, profile, keep=keep, progress=lambda m: console.print(f"[dim]{m}[/]"))
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(res.to_json(), option=orjson.OPT_INDENT_2))
    suite.render(res, console)
    if not res.ok:
        raise typer.Exit(1)


commands = {"prove": prove}
app = None
