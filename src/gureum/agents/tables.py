"""Agent tables: definitions created through the API, sessions, their messages, and the tool calls
of their turns. A session's whole state is in these rows (no replica keeps any), so any replica
continues a session and a restart loses nothing.

A tool call's row is its durable intent: it is written (`running`) before the tool runs and gets
its result (`done`) in the same transaction as the tool message that carries it to the model, so
a turn resumed after a crash knows which calls ran and never runs one twice. A risky call waits
as `pending` with an approval id until its user decides."""

from __future__ import annotations

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB

from gureum.store.tables import metadata

agents = Table(
    "agents",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("name", Text, primary_key=True),
    Column("definition", JSONB, nullable=False),
    Column("created_by", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

agent_sessions = Table(
    "agent_sessions",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("agent", Text, nullable=False),
    Column("owner", Text, nullable=False),  # user id, or the key id of a key without a user
    Column("title", Text, nullable=False, server_default=""),
    Column("status", Text, nullable=False, server_default="idle"),  # idle | running | awaiting_approval
    # A turn in progress holds the session until this time; a crashed replica's hold runs out.
    Column("lease_until", DateTime(timezone=True)),
    # Who runs the current turn (tenant, key, role, user, groups): an approval decided by a tenant
    # admin continues the turn as this user, never as the admin.
    Column("principal", JSONB),
    Column("turns", Integer, nullable=False, server_default="0"),
    Column("tokens", BigInteger, nullable=False, server_default="0"),
    Column("cost", Float, nullable=False, server_default="0"),
    # What the current (or last) turn has used, so a turn resumed after an approval keeps its caps.
    Column("turn_tokens", BigInteger, nullable=False, server_default="0"),
    Column("turn_cost", Float, nullable=False, server_default="0"),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("agent_sessions_owner", "tenant_id", "agent", "owner", "created_at"),
)

agent_messages = Table(
    "agent_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("session_id", Text, nullable=False),
    Column("turn", Integer, nullable=False),
    Column("message", JSONB, nullable=False),  # OpenAI chat message
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("agent_messages_session", "session_id", "id"),
)

agent_tool_calls = Table(
    "agent_tool_calls",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("session_id", Text, nullable=False),
    Column("turn", Integer, nullable=False),
    Column("call_id", Text, nullable=False),  # the model's tool call id
    Column("tool", Text, nullable=False),
    Column("arguments", JSONB, nullable=False),
    # pending (awaiting approval) | approved | denied | running | done | interrupted
    Column("status", Text, nullable=False),
    Column("result", Text),
    Column("approval_id", Text, unique=True),
    Column("decided_by", Text),
    Column("reason", Text),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    UniqueConstraint("session_id", "call_id", name="agent_tool_calls_call"),
)

# Long-term memories: facts a user's agent was asked to remember, per user and agent, with the
# vector of the embedding model named beside it (a memory is only compared with its own kind).
agent_memories = Table(
    "agent_memories",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("tenant_id", Text, nullable=False),
    Column("owner", Text, nullable=False),
    Column("agent", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("embedder", Text, nullable=False),
    Column("embedding", Vector(), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("agent_memories_owner", "tenant_id", "owner", "agent"),
)

__all__ = ["agent_memories", "agent_messages", "agent_sessions", "agent_tool_calls", "agents"]
