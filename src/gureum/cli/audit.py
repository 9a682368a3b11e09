"""`gureum audit verify|export|document`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import orjson
import typer

from gureum.cli.common import ConfigOpt, DataDirOpt, fail, settings, with_store
from gureum.governance import audit, audit_documents
from gureum.store import Store

app = typer.Typer(no_args_is_help=True)


def _checkpoint(value: str | None) -> tuple[int, str] | None:
    if value is None:
        return None
    seq, _, digest = value.partition(":")
    if not seq.isdigit() or len(digest) != 64:
        raise fail(f"--checkpoint must look like SEQ:HASH (got {value!r})", "use the line `gureum audit verify` printed")
    return int(seq), digest


@app.command()
def verify(
    checkpoint: str | None = typer.Option(
        None, "--checkpoint", help="SEQ:HASH printed by an earlier verify and kept elsewhere; detects truncation."
    ),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Walk the hash chain; exit 1 and name the first bad event if anything was altered, removed or inserted."""
    cp = _checkpoint(checkpoint)
    result = with_store(settings(config, data_dir), lambda store: audit.verify(store.engine, checkpoint=cp))
    if result.ok:
        typer.echo(f"ok: {result.checked} events; checkpoint {result.checked}:{result.head}")
        return
    typer.echo(f"FAILED at event #{result.bad_seq}: {result.reason} ({result.checked} events checked)", err=True)
    raise typer.Exit(1)


@app.command()
def export(
    output: Path | None = typer.Option(None, "--output", "-o", help="File to write (default: stdout)."),
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant."),
    action: str | None = typer.Option(None, "--action", help="Action filter; * is a wildcard (api.*)."),
    since: datetime | None = typer.Option(None, "--since", help="ISO time, inclusive."),
    until: datetime | None = typer.Option(None, "--until", help="ISO time, exclusive."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Write audit events as JSONL (with their hashes, so an export can be verified on its own)."""
    q = audit.AuditQuery(tenant_id=tenant, action=action, since=since, until=until)

    async def run(store: Store) -> int:
        out = output.open("wb") if output else sys.stdout.buffer
        n = 0
        try:
            async for row in audit.iterate(store.engine, q):
                out.write(orjson.dumps(row) + b"\n")
                n += 1
        finally:
            if output:
                out.close()
        return n

    n = with_store(settings(config, data_dir), run)
    if output:
        typer.echo(f"wrote {n} events to {output}", err=True)


@app.command()
def document(
    document_id: int = typer.Argument(..., min=1, help="The document's id (as retrieve results and citations name it)."),
    tenant: str | None = typer.Option(None, "--tenant", help="Only retrievals by this tenant."),
    after: int | None = typer.Option(None, "--after", help="Show events after this seq (paging)."),
    limit: int = typer.Option(100, "--limit", min=1, max=10000, help="At most this many events."),
    as_json: bool = typer.Option(False, "--json", help="One JSON object per line instead of a table."),
    config: Path | None = ConfigOpt,
    data_dir: Path | None = DataDirOpt,
) -> None:
    """Who has retrieved a document, and when: one line per retrieval or answer event that returned it."""
    q = audit_documents.DocumentQuery(document_id=document_id, tenant_id=tenant, after=after, limit=limit)
    rows = with_store(settings(config, data_dir), lambda store: audit_documents.retrievals_of(store.engine, q))
    if as_json:
        for row in rows:
            sys.stdout.buffer.write(orjson.dumps(row) + b"\n")
        return
    if not rows:
        typer.echo(f"no retrieval of document {document_id} is recorded", err=True)
        return
    for r in rows:
        who = r["user_id"] or r["key_id"]
        typer.echo(f"#{r['seq']}  {r['ts']}  {r['tenant_id']}  {who}  {r['action']}  {r['collection']}  "
                   f"chunks={','.join(map(str, r['chunk_ids']))}  cited={','.join(map(str, r['cited_chunk_ids'])) or '-'}")
