"""Core tables: identity, the usage ledger and the audit chain. Feature folders that own more
tables (knowledge, agents, jobs) declare them on the same `metadata` in their own module and are
listed in `gureum.store.migrate.TABLE_MODULES`."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

metadata = MetaData()

tenants = Table(
    "tenants",
    metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("settings", JSONB, nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

users = Table(
    "users",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("id", Text, primary_key=True),
    Column("groups", ARRAY(Text), nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("user_id", Text, nullable=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("role", Text, nullable=False),
    Column("hash", Text, nullable=False, unique=True),
    Column("prefix", Text, nullable=False),
    Column("groups", ARRAY(Text), nullable=False, server_default="{}"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("request_id", Text, nullable=False),
    Column("tenant_id", Text, nullable=False),
    Column("user_id", Text),
    Column("key_id", Text),
    Column("endpoint", Text, nullable=False),
    # Which workload made the call (api, agent, job, knowledge, …) and, for a sub-call, the
    # request it was made for.
    Column("origin", Text, nullable=False, server_default="api"),
    Column("parent_id", Text),
    Column("model", Text),
    Column("deployment", Text),
    Column("provider", Text),
    Column("region", Text),
    Column("input_tokens", Integer, nullable=False, server_default="0"),
    Column("output_tokens", Integer, nullable=False, server_default="0"),
    Column("cached_tokens", Integer, nullable=False, server_default="0"),
    Column("tokens_saved", Integer, nullable=False, server_default="0"),
    Column("cost", Float, nullable=False, server_default="0"),
    Column("cost_saved", Float, nullable=False, server_default="0"),
    Column("latency_ms", Float, nullable=False, server_default="0"),
    Column("status", Integer, nullable=False),
    Column("error_code", Text),
    Column("cache", Text),
    Column("route", JSONB),
    Index("ledger_tenant_ts", "tenant_id", "ts"),
    Index("ledger_parent", "parent_id", postgresql_where="parent_id IS NOT NULL"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("event_id", Text, nullable=False, unique=True),
    Column("request_id", Text),
    Column("tenant_id", Text),
    Column("user_id", Text),
    Column("key_id", Text),
    Column("action", Text, nullable=False),
    Column("resource", Text),
    Column("decision", Text, nullable=False),
    Column("status", Integer),
    Column("cost", Float, nullable=False, server_default="0"),
    Column("detail", JSONB, nullable=False, server_default="{}"),
    Column("prev_hash", Text, nullable=False),
    Column("hash", Text, nullable=False),
    # The event's number within its tenant: what a tenant's auditor sees and pages by, so the
    # global sequence (and with it other tenants' activity) stays the platform's.
    Column("tenant_seq", BigInteger),
    Index("audit_tenant_ts", "tenant_id", "ts"),
    Index("audit_tenant_seq", "tenant_id", "tenant_seq"),
    Index("audit_action", "action"),
)

__all__ = ["api_keys", "audit_events", "ledger", "metadata", "tenants", "users"]
