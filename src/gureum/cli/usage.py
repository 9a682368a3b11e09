"""`gureum usage`: usage and cost from the ledger, grouped, with savings and projections."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import orjson
import typer
from rich.console import Console
from rich.table import Table

from gureum.cli.common import ConfigOpt, DataDirOpt, fail, settings, with_store
from gureum.economy import usage as reports
from gureum.store import Store

app = typer.Typer()


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


@app.callback(invoke_without_command=True)
def usage(
    group_by: str = typer.Option(
        "tenant,model", "--group-by", "-g", help=f"Comma-separated: {', '.join(reports.GROUPS)}."
    ),
    since: datetime | None = typer.Option(None, "--since", help="ISO time, inclusive."),
    until: datetime | None = typer.Option(None, "--until", help="ISO time, exclusive."),
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Only this tenant."),
    fmt: Format = typer.Option(Format.TABLE, "--format", "-f", help="table, csv or json."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Requests, tokens and cost per group, what caches saved (cache_saved) and what `auto` routing
    saved against the strongest candidate (routing_saved), and month-end projections vs budgets."""
    try:
        groups = reports.parse_group_by(group_by)
    except ValueError as exc:
        raise fail(str(exc)) from None
    s = settings(config, data_dir)
    q = reports.UsageQuery(tenant, groups, since, until, reports.timezone_of(s))

    async def run(store: Store) -> dict[str, Any]:
        return {
            "group_by": groups,
            "data": await reports.report(store.engine, q),
            "totals": await reports.totals(store.engine, q),
            "projections": await reports.projections(store.engine, s, tenant),
        }

    result = with_store(s, run)
    if fmt is Format.JSON:
        sys.stdout.buffer.write(orjson.dumps(result, option=orjson.OPT_INDENT_2) + b"\n")
        return
    columns = [*groups, *reports.METRICS]
    if fmt is Format.CSV:
        w = csv.writer(sys.stdout)
        w.writerow(columns)
        for row in result["data"]:
            w.writerow([row.get(c, "") if row.get(c) is not None else "" for c in columns])
        return
    currency = s.economy.currency
    table = Table(*columns, title=f"usage ({currency})")
    for row in result["data"]:
        table.add_row(*[_cell(c, row.get(c)) for c in columns])
    t = result["totals"]
    table.add_row(*(["total"] + [""] * (len(groups) - 1) if groups else []), *[_cell(c, t.get(c)) for c in reports.METRICS])
    console = Console()
    console.print(table)
    for p in result["projections"]:
        line = (f"{p['tenant']}: {p['month']} to date {p['month_to_date']:.4f} {currency}, projected month end "
                f"{p['projected_month_end']:.4f} ({p['elapsed_fraction']:.0%} of the month elapsed)")
        for b in p["budgets"]:
            state = "OVER" if b["over"] else "ok"
            line += f"; {b['period']} budget {b['limit']:.2f}: {b['compared']} {b['value']:.4f} [{state}]"
        console.print(line)


def _cell(column: str, value: Any) -> str:
    if value is None:
        return ""
    if column in ("cost", "cache_saved", "routing_saved"):
        return f"{float(value):.6f}"
    return str(value)
