"""`gureum ingest COLLECTION PATH_OR_URI` and `gureum collections create|list|delete`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from gureum.cli.common import ConfigOpt, DataDirOpt, fail, settings, with_platform, with_store
from gureum.store import Store

if TYPE_CHECKING:
    from gureum.governance.principal import Principal
    from gureum.platform import Platform

app = typer.Typer(no_args_is_help=True)
TenantOpt = typer.Option("default", "--tenant", "-t", help="Tenant that owns the collection.")


def ingest(
    collection: str = typer.Argument(help="Collection name."),
    source: str = typer.Argument(help="A folder path, or a connector URI (s3://bucket/prefix, postgresql://…)."),
    sync: bool = typer.Option(False, "--sync", help="Also remove indexed documents the source no longer has."),
    create: bool = typer.Option(False, "--create", help="Create the collection if it does not exist."),
    tenant: str = TenantOpt,
    acl: list[str] = typer.Option([], "--default-acl", help="With --create: default ACL (repeatable; '*', "
                                  "'user:<id>', 'group:<g>'). Default '*': everyone in the tenant."),
    as_json: bool = typer.Option(False, "--json", help="Print the report as one JSON line."),
    jobs: int | None = typer.Option(None, "--jobs", min=1, max=64,
                                    help="Queue the work as N `ingest` jobs, one share of the source each, for "
                                         "`gureum worker` processes to run in parallel, instead of ingesting here."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Ingest documents into a collection: unchanged documents are skipped, changed ones replaced
    atomically; re-running after an interruption resumes where it stopped."""
    from gureum.governance.principal import Principal
    from gureum.knowledge import collections, declared
    from gureum.knowledge.ingest import ingest_source

    s = settings(config, data_dir)
    console = Console(stderr=True)

    async def run(platform: Platform) -> dict[str, Any]:
        store = platform.store
        col = await collections.find(store.engine, tenant, collection)
        decl = declared.find(s, tenant, collection)
        if col is None and decl is not None:
            col = await declared.create(store.engine, s, decl)
            console.print(f"created collection [bold]{collection}[/] as declared in {s.config_path}")
        if col is None:
            if not create:
                raise fail(f"no collection '{collection}' in tenant '{tenant}'",
                           "add --create to create it, or declare it under `collections:` in gureum.yaml")
            col = await collections.create(store.engine, s, tenant, collection, default_acl=acl or None, exist_ok=True)
            console.print(f"created collection [bold]{collection}[/] (embedder {col.embedder}, "
                          f"{col.chunk_max_tokens}-token chunks)")
        if jobs:
            return {"jobs": await _queue_ingest(platform, Principal.service(tenant, "cli"), collection, source,
                                                sync, jobs)}
        emb = platform.embedder(Principal.service(tenant, "cli"), col, origin="cli")
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[chunks]} chunks"), TimeElapsedColumn(), console=console,
                      disable=not console.is_terminal and as_json) as bar:
            task = bar.add_task(f"ingest {collection}", total=None, chunks=0)
            chunks = 0

            def progress(event: str, n: int) -> None:
                nonlocal chunks
                if event == "total":
                    bar.update(task, total=n)
                elif event in ("skipped", "indexed", "failed"):
                    bar.advance(task, n)
                elif event == "chunks":
                    chunks += n
                    bar.update(task, chunks=chunks)
                elif event == "set_index":
                    bar.update(task, description=f"HNSW index of an ACL set ({n:,} chunks)")

            report = await ingest_source(store.engine, col, emb, source, sync=sync, progress=progress)
        return report.as_dict()

    out = with_platform(s, run)
    if as_json:
        sys.stdout.write(orjson.dumps(out).decode() + "\n")
        return
    if "jobs" in out:
        typer.echo(f"queued {len(out['jobs'])} ingest job(s): {' '.join(out['jobs'])} "
                   "(run `gureum worker`; follow with `gureum jobs status ID`)")
        return
    typer.echo(
        f"{out['added']} added, {out['updated']} updated, {out['unchanged']} unchanged, {out['deleted']} deleted, "
        f"{len(out['failed'])} failed; {out['chunks']} chunks in {out['seconds']} s "
        f"({out['docs_per_s']} docs/s, {out['chunks_per_s']} chunks/s)"
    )
    for f in out["failed"]:
        typer.echo(f"  failed: {f['uri']}: {f['error']}", err=True)


async def _queue_ingest(platform: Platform, principal: Principal, collection: str, source: str, sync: bool,
                        shards: int) -> list[str]:
    """Queue one `ingest` job per share of the source; the ids, in shard order."""
    import gureum.jobs.builtin  # noqa: F401 - registers the ingest type
    from gureum.jobs import registry
    from gureum.jobs.ingest import INGEST
    from gureum.jobs.repository import JobRepository

    job_type = registry.get(INGEST)
    assert job_type is not None
    repo = JobRepository(platform.store.engine)
    ids = []
    for k in range(shards):
        params = job_type.parse({"collection": collection, "source": source, "sync": sync, "shard": k,
                                 "shards": shards})
        ids.append((await repo.submit(principal, INGEST, params,
                                      max_attempts=platform.settings.jobs.max_attempts)).id)
    return ids


@app.command()
def create(
    name: str = typer.Argument(help="Collection name."),
    tenant: str = TenantOpt,
    embedder: str | None = typer.Option(None, "--embedder", help="Embedding model from the catalog."),
    chunk_tokens: int | None = typer.Option(None, "--chunk-tokens", help="Chunk size in embedder tokens."),
    overlap: int | None = typer.Option(None, "--overlap", help="Chunk overlap in tokens."),
    residency: str | None = typer.Option(None, "--residency", help="Residency tag (default: the embedder's region)."),
    acl: list[str] = typer.Option([], "--default-acl", help="Default ACL entries (repeatable)."),
    pii_policy: str = typer.Option("mask", "--pii-policy", help="mask, exclude or allow PII chunks for external models."),
    answer_model: str | None = typer.Option(None, "--answer-model", help="Chat model that answers from this collection."),
    reranker: str | None = typer.Option(None, "--reranker", help="Rerank model (catalog kind rerank) for retrieval."),
    rerank_candidates: int | None = typer.Option(
        None, "--rerank-candidates", help="Fused hits the reranker scores (default 20)."
    ),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Create a collection."""
    from gureum.knowledge import collections

    s = settings(config, data_dir)
    col = with_store(s, lambda store: collections.create(
        store.engine, s, tenant, name, embedder=embedder, chunk_max_tokens=chunk_tokens, chunk_overlap=overlap,
        residency=residency, default_acl=acl or None, pii_policy=pii_policy, answer_model=answer_model,
        reranker=reranker, rerank_candidates=rerank_candidates))
    typer.echo(orjson.dumps(col.public()).decode())


@app.command("list")
def list_(tenant: str = TenantOpt, config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    """List collections with document and chunk counts."""
    from gureum.knowledge import collections

    rows = with_store(settings(config, data_dir), lambda store: collections.list_all(store.engine, tenant))
    table = Table("name", "documents", "chunks", "embedder", "residency", "default acl", "answer model")
    for r in rows:
        table.add_row(r["name"], str(r["documents"]), str(r["chunks"]), r["embedder"], r["residency"],
                      ",".join(r["default_acl"]), r["answer_model"] or "")
    Console().print(table)


@app.command()
def delete(name: str = typer.Argument(help="Collection name."), tenant: str = TenantOpt,
           config: Path | None = ConfigOpt, data_dir: Path | None = DataDirOpt) -> None:
    """Delete a collection with all its documents."""
    from gureum.knowledge import collections

    async def run(store: Store) -> None:
        await collections.delete(store.engine, await collections.get(store.engine, tenant, name))

    with_store(settings(config, data_dir), run)
    typer.echo(f"deleted {name}")


# Mounted at the root by gureum.cli: `gureum ingest COLLECTION SOURCE`.
commands = {"ingest": ingest}


