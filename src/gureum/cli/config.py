"""`gureum config reference|show|schema`."""

from __future__ import annotations

from pathlib import Path

import typer

from gureum.cli.common import ConfigOpt, DataDirOpt, settings

app = typer.Typer(no_args_is_help=True)


@app.command("reference")
def reference_cmd() -> None:
    """Print the configuration reference (Markdown) generated from the code."""
    from gureum.config_reference import reference

    typer.echo(reference(), nl=False)


@app.command("show")
def show(config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    """Print the effective configuration (file + environment + defaults), secrets hidden."""
    import yaml

    s = settings(config, data_dir)
    data = s.model_dump(mode="json", exclude={"config_path"})
    for p in data.get("providers", {}).values():
        if p.get("api_key"):
            p["api_key"] = "***"
    if data.get("admin_key"):
        data["admin_key"] = "***"
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))


@app.command("schema")
def schema_cmd() -> None:
    """Print the JSON Schema of gureum.yaml (docs/gureum.schema.json), for editors and CI."""
    import orjson

    from gureum.config_schema import schema

    typer.echo(orjson.dumps(schema(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
