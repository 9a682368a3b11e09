"""The `ingest` job: batch ingestion of a source (folder, S3, SQL — any connector) in a worker, as
the submitting admin, each embedding batch a governed call. Parsing and embedding are batched and
pipelined as in `gureum ingest` (`knowledge/ingest.py`); a source is split between workers with
`shards`: job k of n takes the documents whose uri hashes to k, and with `sync` removes only the
stale documents of its own share, so n jobs on n worker processes ingest a source in parallel and
together do exactly what one would.

Resuming needs no checkpoint of its own: documents are written whole, a batch per transaction,
and a document whose content hash is already indexed is skipped, so a job killed at any point
and claimed again continues after the last batch written — no document twice, none lost."""

from __future__ import annotations

import asyncio
import contextlib
import zlib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from gureum.governance.principal import Role
from gureum.jobs.context import JobContext
from gureum.jobs.registry import register
from gureum.jobs.set_indexes import hand_over
from gureum.jobs.settings import JobSettings
from gureum.knowledge import collections
from gureum.knowledge.ingest import ingest_source

INGEST = "ingest"
_PROGRESS_SECONDS = 1.0
_FAILURES_LOGGED = 100


class IngestUnrunnable(Exception):
    """The job cannot run as submitted (its collection is gone); another attempt would not help."""

    retriable = False


def allowed_source(source: str, prefixes: list[str]) -> bool:
    """Whether `source` lies under one of `prefixes`: folders compared after resolving `..` and
    links, URIs by prefix."""
    if "://" not in source or source.startswith("file://"):
        path = Path(source.removeprefix("file://")).expanduser().resolve()
        return any("://" not in p and path.is_relative_to(Path(p).expanduser().resolve()) for p in prefixes)
    return any("://" in p and source.startswith(p) for p in prefixes)


class IngestParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collection: str = Field(min_length=1, max_length=200, description="The collection to ingest into (it must exist).")
    source: str = Field(min_length=1, max_length=4000, description="A folder, or a connector URI (s3://…, postgresql://…).")
    sync: bool = Field(default=False, description="Also remove indexed documents the source no longer has.")
    options: dict[str, Any] = Field(default_factory=dict, description="The connector's options (e.g. `query` for SQL).")
    shard: int = Field(default=0, ge=0, description="This job's share of the source (0 … shards-1).")
    shards: int = Field(default=1, ge=1, le=64, description="Into how many shares the source is split.")

    @field_validator("source")
    @classmethod
    def _readable_by_submitter(cls, source: str, info: ValidationInfo) -> str:
        ctx = info.context or {}
        if ctx.get("origin") == "api":
            settings: JobSettings = ctx["settings"].jobs
            if not allowed_source(source, settings.ingest_sources):
                raise ValueError("this source is not under `jobs.ingest_sources` in gureum.yaml; an operator adds "
                                 "the folders and URIs that API ingest jobs may read")
        return source

    @model_validator(mode="after")
    def _shard_in_range(self) -> IngestParams:
        if self.shard >= self.shards:
            raise ValueError(f"shard must be below shards ({self.shards})")
        return self

    def wants(self, uri: str) -> bool:
        # crc32, not hash(): every worker process must agree on the split.
        return zlib.crc32(uri.encode("utf-8")) % self.shards == self.shard


@register(INGEST, roles=(Role.ADMIN,), params=IngestParams)
async def ingest(ctx: JobContext) -> dict[str, Any]:
    platform = ctx.platform
    if platform is None:
        raise IngestUnrunnable("ingest needs a worker started with the platform (`gureum worker`)")
    p = IngestParams.model_validate(ctx.params)
    engine = platform.store.engine
    col = await collections.find(engine, ctx.principal.tenant_id, p.collection)
    if col is None:
        raise IngestUnrunnable(f"no collection '{p.collection}' in tenant '{ctx.principal.tenant_id}'")
    counts = {"total": 0, "done": 0}

    def progress(event: str, n: int) -> None:
        # Called from the parsing thread too: only counters here, the reporter below writes them.
        if event == "total":
            counts["total"] = n
        elif event in ("skipped", "indexed", "failed"):
            counts["done"] += n

    async def report_progress() -> None:
        while True:
            await ctx.progress(counts["done"], counts["total"] or None)
            await asyncio.sleep(_PROGRESS_SECONDS)

    reporter = asyncio.create_task(report_progress())
    try:
        report = await ingest_source(engine, col, platform.embedder(ctx.principal, col, origin="job"), p.source,
                                     sync=p.sync, options=p.options, progress=progress,
                                     want=p.wants if p.shards > 1 else None, maintain_indexes=False)
    finally:
        reporter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reporter
    await ctx.progress(counts["done"], counts["total"] or counts["done"])
    # Shards finish at different times and a second maintainer skips while one builds; the queued
    # set-indexes job waits its turn, so the last shard's documents are never left unindexed.
    index_job = await hand_over(engine, col.tenant_id, platform.settings.jobs.max_attempts)
    for uri, message in report.failed[:_FAILURES_LOGGED]:
        await ctx.log(f"{uri}: {message}", "warning")
    return {"collection": p.collection, "shard": p.shard, "shards": p.shards, "index_job": index_job,
            **report.as_dict()}
