"""`gureum check [FILE] [--live URL]`: the architect's four questions against the declared (and
running) platform. Exit 0 clean, 1 findings at or above --fail-on, 2 nothing could be read."""

from __future__ import annotations

import os
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import orjson
import typer
from rich.console import Console
from rich.table import Table

from gureum.cli.common import fail

if TYPE_CHECKING:
    from gureum.checklist.declared import DeclaredPlatform
    from gureum.checklist.model import Rule


class Format(StrEnum):
    TEXT = "text"
    JSON = "json"
    SARIF = "sarif"


class FailOn(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    NEVER = "never"


def _default_file() -> Path | None:
    explicit = os.environ.get("GUREUM_CONFIG")
    path = Path(explicit) if explicit else Path("gureum.yaml")
    return path if path.exists() or explicit else None


def check(
    file: Path | None = typer.Argument(None, help="gureum.yaml to check (default ./gureum.yaml or $GUREUM_CONFIG)."),
    live: str | None = typer.Option(None, "--live", help="Also read a running platform's effective configuration, "
                                    "tenants, keys and collections from this base URL (GET /v1/admin/config)."),
    key: str | None = typer.Option(None, "--key", envvar="GUREUM_ADMIN_KEY",
                                   help="Platform admin key for --live (default $GUREUM_ADMIN_KEY)."),
    fmt: Format = typer.Option(Format.TEXT, "--format", "-f", help="text, json or sarif."),
    fail_on: FailOn = typer.Option(FailOn.ERROR, "--fail-on", help="Exit 1 when an unsuppressed finding is at or "
                                   "above this severity (error, warning, info; never: always exit 0)."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write the report here instead of stdout."),
    list_rules: bool = typer.Option(False, "--rules", help="List the rules and exit."),
) -> None:
    """Check the platform against workload definition, data gravity, flow security and cost architecture."""
    from gureum.checklist import engine, report
    from gureum.checklist.model import Severity

    if list_rules:
        _print_rules(engine.rules())
        return
    path = file or _default_file()
    if path is None and live is None:
        raise fail("nothing to check: no ./gureum.yaml", "pass a FILE, or --live URL of a running platform")
    declared = read(path, live, key)
    findings = engine.run(declared)
    threshold = None if fail_on is FailOn.NEVER else Severity(fail_on.value)
    failed = engine.failing(findings, threshold)
    out = output.open("w", encoding="utf-8") if output else None
    try:
        if fmt is Format.TEXT:
            console = Console(file=out, width=120 if out else None, soft_wrap=out is None)
            report.print_text(console, declared, findings)
        else:
            doc = (report.to_json(declared, findings) if fmt is Format.JSON
                   else report.to_sarif(declared, findings, engine.rules(), _version()))
            text = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n"
            (out or sys.stdout).write(text)
    finally:
        if out:
            out.close()
    if failed:
        raise typer.Exit(1)


def read(path: Path | None, live: str | None, key: str | None) -> DeclaredPlatform:
    """The file, the running platform, or both; a clear error (exit 2) when neither can be read."""
    from gureum.checklist import load
    from gureum.config import ConfigError

    try:
        declared = load.from_file(path) if path is not None else None
        if live is not None:
            if not key:
                raise fail("--live needs a platform admin key", "pass --key or set GUREUM_ADMIN_KEY")
            declared = load.with_live(live, key, declared)
    except ConfigError as exc:
        raise fail(str(exc), "fix the file (or the URL/key) and run again") from None
    assert declared is not None, "a path or a live URL is given"
    return declared


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gureum")
    except PackageNotFoundError:
        return "0"


def _print_rules(rules: list[Rule]) -> None:
    table = Table("id", "question", "severity", "rule")
    for r in rules:
        table.add_row(r.id, r.question.value, r.severity.value, r.title)
    Console().print(table)


commands = {"check": check}
app = None
