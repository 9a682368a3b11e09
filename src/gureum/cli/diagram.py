"""`gureum diagram [FILE]`: the declared data flow and workloads as Mermaid or SVG."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer


class Format(StrEnum):
    MERMAID = "mermaid"
    SVG = "svg"


def diagram(
    file: Path = typer.Argument(Path("gureum.yaml"), help="gureum.yaml to draw (default ./gureum.yaml)."),
    fmt: Format = typer.Option(Format.MERMAID, "--format", "-f", help="mermaid (text) or svg."),
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
    live: str | None = typer.Option(None, "--live", help="Add a running platform's collections (as `gureum check`)."),
    key: str | None = typer.Option(None, "--key", envvar="GUREUM_ADMIN_KEY", help="Platform admin key for --live."),
) -> None:
    """Draw tenants, workloads, the flow, virtual models, fallbacks, deployments by region and the
    stores; paths `gureum check` finds crossing a residency border are red."""
    from gureum.checklist import diagram as draw
    from gureum.checklist import engine
    from gureum.cli.check import read

    declared = read(file, live, key)
    graph = draw.build(declared, engine.run(declared))
    text = draw.to_mermaid(graph) if fmt is Format.MERMAID else draw.to_svg(graph)
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)


commands = {"diagram": diagram}
app = None
