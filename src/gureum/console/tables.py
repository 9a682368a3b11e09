"""Console sessions: kept in the store (not in the cookie) so a logout or a revoked key ends the
session on every replica, and the cookie carries only a random token."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Table, Text, func

from gureum.store.tables import metadata

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", Text, primary_key=True),
    Column("key_id", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Index("console_sessions_key", "key_id"),
)

__all__ = ["console_sessions"]
