"""Schema migrations. Tables are declared with SQLAlchemy; `create_all` makes the missing ones and
the numbered steps below carry what `create_all` cannot (extensions, triggers, later changes).
An advisory lock makes concurrent starts of many replicas safe."""

from __future__ import annotations

import importlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.governance.audit_documents import INDEX_TRIGGER
from gureum.store.tables import metadata

# Feature folders that declare tables on the shared metadata.
TABLE_MODULES: tuple[str, ...] = (
    "gureum.knowledge.tables", "gureum.cache.store", "gureum.agents.tables", "gureum.governance.audit_documents",
    "gureum.console.tables", "gureum.jobs.tables",
)

_LOCK_KEY = 0x67757265756D  # "gureum"

# Appends audit events and ledger rows in one call. The lock is taken before the head is read in
# a separate statement, so the read sees every chain extension committed while this call waited
# for the lock. Steps that change the ledger's columns re-create the function from this one text.
APPEND_FUNCTION = """CREATE OR REPLACE FUNCTION gureum_append(events jsonb, ledger_rows jsonb) RETURNS void AS $$
   DECLARE
     head_seq bigint;
     head_hash text;
     e jsonb;
     h text;
     tenant text;
     tenant_heads jsonb := '{}';
     t_seq bigint;
   BEGIN
     IF jsonb_array_length(events) > 0 THEN
       PERFORM pg_advisory_xact_lock(1635083369);
       SELECT seq, hash INTO head_seq, head_hash FROM audit_events ORDER BY seq DESC LIMIT 1;
       head_seq := coalesce(head_seq, 0);
       head_hash := coalesce(head_hash, repeat('0', 64));
       FOR e IN SELECT value FROM jsonb_array_elements(events) LOOP
         head_seq := head_seq + 1;
         h := encode(sha256(convert_to(head_hash || E'\n' || head_seq::text || E'\n' || (e->>'digest'), 'UTF8')), 'hex');
         tenant := coalesce(e->>'tenant_id', '');
         IF tenant_heads ? tenant THEN
           t_seq := (tenant_heads->>tenant)::bigint + 1;
         ELSE
           SELECT coalesce(max(tenant_seq), 0) + 1 INTO t_seq FROM audit_events
             WHERE tenant_id IS NOT DISTINCT FROM (e->>'tenant_id');
         END IF;
         tenant_heads := jsonb_set(tenant_heads, ARRAY[tenant], to_jsonb(t_seq));
         INSERT INTO audit_events (seq, ts, event_id, request_id, tenant_id, user_id, key_id, action,
                                   resource, decision, status, cost, detail, prev_hash, hash, tenant_seq)
         VALUES (head_seq, (e->>'ts')::timestamptz, e->>'event_id', e->>'request_id', e->>'tenant_id',
                 e->>'user_id', e->>'key_id', e->>'action', e->>'resource', e->>'decision',
                 (e->>'status')::int, (e->>'cost')::float8, e->'detail', head_hash, h, t_seq);
         head_hash := h;
       END LOOP;
     END IF;
     IF jsonb_array_length(ledger_rows) > 0 THEN
       INSERT INTO ledger (ts, request_id, tenant_id, user_id, key_id, endpoint, origin, parent_id, model,
                           deployment, provider, region, input_tokens, output_tokens, cached_tokens,
                           tokens_saved, cost, cost_saved, latency_ms, status, error_code, cache, route)
       SELECT ts, request_id, tenant_id, user_id, key_id, endpoint, coalesce(origin, 'api'), parent_id, model,
              deployment, provider, region, input_tokens, output_tokens, cached_tokens, tokens_saved, cost,
              cost_saved, latency_ms, status, error_code, cache, route
       FROM jsonb_populate_recordset(NULL::ledger, ledger_rows);
     END IF;
   END; $$ LANGUAGE plpgsql"""

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
    (
        3,
        "append audit events and ledger rows in one call",
        [
            APPEND_FUNCTION,
        ],
    ),
    (
        4,
        "chunks are found by their ACL set",
        ["CREATE INDEX IF NOT EXISTS chunks_acl_set ON chunks (acl_set_id)"],
    ),
    (
        5,
        "ledger rows name their origin and parent request",
        [
            "ALTER TABLE ledger ADD COLUMN IF NOT EXISTS origin text NOT NULL DEFAULT 'api'",
            "ALTER TABLE ledger ADD COLUMN IF NOT EXISTS parent_id text",
            "CREATE INDEX IF NOT EXISTS ledger_parent ON ledger (parent_id) WHERE parent_id IS NOT NULL",
            APPEND_FUNCTION,
        ],
    ),
    (
        6,
        "audit events are numbered per tenant",
        [
            "ALTER TABLE audit_events ADD COLUMN IF NOT EXISTS tenant_seq bigint",
            # Numbering the events already written is the one update the append-only log allows.
            "ALTER TABLE audit_events DISABLE TRIGGER audit_append_only",
            """UPDATE audit_events a SET tenant_seq = n.rn FROM (
                 SELECT seq, row_number() OVER (PARTITION BY tenant_id ORDER BY seq) AS rn FROM audit_events
               ) n WHERE a.seq = n.seq AND a.tenant_seq IS NULL""",
            "ALTER TABLE audit_events ENABLE TRIGGER audit_append_only",
            "CREATE INDEX IF NOT EXISTS audit_tenant_seq ON audit_events (tenant_id, tenant_seq)",
            APPEND_FUNCTION,
        ],
    ),
    (
        7,
        "cache entries keep the analysis of their request",
        ["ALTER TABLE cache_entries ADD COLUMN IF NOT EXISTS analysis jsonb"],
    ),
    (
        8,
        "cache entries name their requested model; collection generations are per tenant",
        [
            "ALTER TABLE cache_entries ADD COLUMN IF NOT EXISTS model text",
            "DROP INDEX IF EXISTS cache_entries_tenant",
            "CREATE INDEX IF NOT EXISTS cache_entries_tenant ON cache_entries (tenant_id, model)",
            # Keys made before name no per-tenant generation (KEY_VERSION 2 voids them); the old
            # counters by bare name are read by nobody.
            "DELETE FROM cache_generations WHERE collection NOT LIKE '%/%'",
        ],
    ),
    (
        60,
        "retrieval audit events index the documents and chunks they saw",
        INDEX_TRIGGER,
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
