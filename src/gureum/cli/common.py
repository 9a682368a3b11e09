"""Shared CLI plumbing: settings from the usual options, a store opened for one command, and
errors that say what went wrong and what to do."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console

from gureum.config import ConfigError, Settings, load_settings
from gureum.errors import GureumError
from gureum.store import Store, open_store

if TYPE_CHECKING:
    from gureum.platform import Platform

T = TypeVar("T")
err_console = Console(stderr=True)

ConfigOpt = typer.Option(None, "--config", "-c", help="gureum.yaml path (default ./gureum.yaml or $GUREUM_CONFIG).")
DataDirOpt = typer.Option(None, "--data-dir", help="Data directory (default ./.gureum or $GUREUM_DATA_DIR).")


def fail(message: str, hint: str | None = None, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    if hint:
        err_console.print(f"[dim]hint:[/] {hint}")
    return typer.Exit(code)


def settings(config: Path | None, data_dir: Path | None, **overrides: Any) -> Settings:
    try:
        return load_settings(config, data_dir=data_dir, **overrides)
    except ConfigError as exc:
        raise fail(str(exc), "fix the file, or run without --config to use the embedded defaults") from None


def with_store(s: Settings, fn: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = await open_store(s.data_dir, s.database_url, pool_size=2, server_settings=s.store.embedded_server)
        try:
            return await fn(store)
        finally:
            await store.close()

    return _run(run)


def with_platform(s: Settings, fn: Callable[[Platform], Awaitable[T]]) -> T:
    """Run `fn` on a platform started for one command: its model calls (an ingestion's
    embeddings) go through the governed flow like a server's, and are accounted and audited."""
    from gureum.platform import Platform

    async def run() -> T:
        platform = await Platform.start(s, bootstrap_keys=False)
        try:
            return await fn(platform)
        finally:
            await platform.stop()

    return _run(run)


def _run(run: Callable[[], Coroutine[Any, Any, T]]) -> T:
    try:
        return asyncio.run(run())
    except GureumError as exc:
        raise fail(exc.message) from None
    except OSError as exc:
        raise fail(f"cannot reach the store: {exc}", "check --data-dir or GUREUM_DATABASE_URL") from None
