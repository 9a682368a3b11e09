"""Schema migrations. Tables are declared with SQLAlchemy; `create_all` makes the missing ones and
the numbered steps below carry what `create_all` cannot (extensions, triggers, later changes).
An advisory lock makes concurrent starts of many replicas safe."""

from __future__ import annotations

import importlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.store.tables import metadata

# Feature folders that declare tables on the shared metadata.
TABLE_MODULES: tuple[str, ...] = ("gureum.knowledge.tables", "gureum.cache.store")

_LOCK_KEY = 0x67757265756D  # "gureum"

STEPS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "audit events are append-only",
        [
            """CREATE OR REPLACE FUNCTION gureum_audit_append_only() RETURNS trigger AS $$
               BEGIN RAISE EXCEPTION 'audit_events is append-only'; END; $$ LANGUAGE plpgsql""",
            "DROP TRIGGER IF EXISTS audit_append_only ON audit_events",
            """CREATE TRIGGER audit_append_only BEFORE UPDATE OR DELETE ON audit_events
               FOR EACH ROW EXECUTE FUNCTION gureum_audit_append_only()""",
        ],
    ),
    (
        2,
        "audit events cannot be truncated",
        [
            "DROP TRIGGER IF EXISTS audit_no_truncate ON audit_events",
            """CREATE TRIGGER audit_no_truncate BEFORE TRUNCATE ON audit_events
               FOR EACH STATEMENT EXECUTE FUNCTION gureum_audit_append_only()""",
        ],
    ),
]


def _load_table_modules() -> None:
    for name in TABLE_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


async def migrate(engine: AsyncEngine) -> None:
    _load_table_modules()
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})
        await conn.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
        await conn.run_sync(metadata.create_all)
        await conn.execute(
            text("CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, name text NOT NULL)")
        )
        done = {r[0] for r in await conn.execute(text("SELECT version FROM schema_migrations"))}
        for version, name, statements in STEPS:
            if version in done:
                continue
            for stmt in statements:
                await conn.execute(text(stmt))
            await conn.execute(
                text("INSERT INTO schema_migrations (version, name) VALUES (:v, :n)"), {"v": version, "n": name}
            )
