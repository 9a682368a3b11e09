"""`gureum serve`: the API server."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from gureum.cli.common import ConfigOpt, DataDirOpt, settings
from gureum.logs import configure as configure_logging


def serve(
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
    host: str | None = typer.Option(None, help="Bind address (default 127.0.0.1)."),
    port: int | None = typer.Option(None, help="Port (default 8000)."),
) -> None:
    """Start the OpenAI-compatible API (embedded store and models unless configured otherwise)."""
    from gureum.app import create_app

    s = settings(config, data_dir, host=host, port=port)
    configure_logging(s.log_level, s.log_format)
    models = ", ".join(sorted({d.name for d in s.deployments} | set(s.virtual_models)))
    typer.echo(f"gureum: serving on http://{s.host}:{s.port}/v1 (models: {models}; data: {s.database_url or s.data_dir})")
    uvicorn.run(
        create_app(s),
        host=s.host,
        port=s.port,
        log_level=s.log_level,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(s.shutdown_grace),
    )
