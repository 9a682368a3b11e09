"""Job tables on the shared metadata: the queue, its log lines and committed checkpoints."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Index, Integer, Table, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from gureum.store.tables import metadata

jobs = Table(
    "jobs",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    # Who submitted it: the job runs as this principal.
    Column("user_id", Text),
    Column("key_id", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("groups", ARRAY(Text), nullable=False, server_default="{}"),
    Column("type", Text, nullable=False),
    Column("params", JSONB, nullable=False, server_default="{}"),
    Column("resources", JSONB, nullable=False, server_default="{}"),
    Column("state", Text, nullable=False, server_default="queued"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("max_attempts", Integer, nullable=False, server_default="3"),
    Column("run_after", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # The current claim: a fresh token per claim, and its number (epoch) for logs and checkpoints.
    Column("lease", Text),
    Column("epoch", BigInteger, nullable=False, server_default="0"),
    Column("worker", Text),
    Column("heartbeat_at", DateTime(timezone=True)),
    Column("lease_expires_at", DateTime(timezone=True)),
    Column("cancel_requested", Boolean, nullable=False, server_default="false"),
    Column("progress_done", BigInteger, nullable=False, server_default="0"),
    Column("progress_total", BigInteger),
    Column("result", JSONB),
    Column("error", Text),
    Column("checkpoint_seq", BigInteger),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("jobs_claimable", "priority", "created_at", postgresql_where=text("state IN ('queued', 'running')")),
    Index("jobs_tenant", "tenant_id", "created_at"),
)

job_logs = Table(
    "job_logs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("job_id", Text, nullable=False, index=True),
    Column("epoch", BigInteger, nullable=False),
    Column("ts", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("level", Text, nullable=False, server_default="info"),
    Column("message", Text, nullable=False),
)

job_checkpoints = Table(
    "job_checkpoints",
    metadata,
    Column("job_id", Text, primary_key=True),
    Column("seq", BigInteger, primary_key=True),
    Column("epoch", BigInteger, nullable=False),
    Column("path", Text, nullable=False),
    Column("sha256", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

# Files of the OpenAI Files API (batch input and output). The bytes live on disk under the data
# directory (or the worker's, for outputs); the row says whose they are.
files = Table(
    "files",
    metadata,
    Column("id", Text, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("user_id", Text),
    Column("purpose", Text, nullable=False),
    Column("filename", Text, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("path", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("files_tenant", "tenant_id", "created_at"),
)
