"""Ingestion: source → parse → clean → chunk → (PII types, lexical terms) → embed → index.

Chunks are embedded sentence by sentence, each sentence with the chunk's header line (document
title and heading path): the sentence vectors score candidates at query time and their mean is
the chunk's vector in the ANN index — no text is embedded twice.

Three stages overlap: preparing the next batch (parsing, chunking, kiwi terms, PII detection on
a worker thread), embedding the current one (the e5 engine on its own threads), and writing the
previous one (COPY into PostgreSQL). Each batch is written in one transaction, so every document
is either wholly in the index or not at all.

Incremental: a document's content hash covers its bytes, title, type, ACL, metadata and the
collection's chunking policy and embedder; an unchanged hash is skipped without parsing, which is
also how a killed run resumes — the re-run skips what was committed and does the rest. A changed
document replaces its previous chunks in the same transaction. `sync=True` removes documents the
source no longer lists (only after a run that read the whole source).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.cache import bump_collection
from gureum.governance.pii import detect
from gureum.knowledge import index, lexical
from gureum.knowledge.collections import Collection, documents_changed
from gureum.knowledge.documents import ChunkDraft, IngestError, SourceDocument
from gureum.knowledge.embedders import Embedder, normalise

log = logging.getLogger("gureum.knowledge")

BATCH_UNITS = 128  # sentences per embedding batch
BATCH_DOCS = 32

# (event, amount): "total", "skipped", "indexed", "failed", "chunks", "deleted", and "set_index"
# (an ACL set of `amount` chunks is getting its own HNSW index).
Progress = Callable[[str, int], None]


@dataclass
class IngestReport:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        docs = self.added + self.updated
        s = max(self.seconds, 1e-9)
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged, "deleted": self.deleted,
            "chunks": self.chunks, "failed": [{"uri": u, "error": m} for u, m in self.failed],
            "seconds": round(self.seconds, 3), "docs_per_s": round(docs / s, 2), "chunks_per_s": round(self.chunks / s, 2),
        }


def content_hash(col: Collection, doc: SourceDocument, acl: list[str]) -> str:
    h = hashlib.sha256()
    policy = [col.embedder, col.chunk_max_tokens, col.chunk_overlap, doc.title, doc.media_type or "", acl,
              doc.metadata]
    h.update(orjson.dumps(policy, default=str, option=orjson.OPT_SORT_KEYS))
    h.update(b"\0")
    h.update(doc.content)
    return h.hexdigest()


def embed_text(title: str, heading_path: list[str], body: str) -> str:
    """What is embedded and indexed for a chunk: its document title and heading path as a header
    line, then the chunk text — a chunk far down a document still says what it is about."""
    header = " > ".join(p for p in [title, *heading_path] if p)
    return f"{header}\n{body}" if header else body


@dataclass
class _Prepared:
    row: index.DocumentRow
    texts: list[str]  # the sentences of every chunk, each with the chunk's header line
    counts: list[int]  # sentences per chunk
    is_update: bool


class Ingestor:
    def __init__(self, engine: AsyncEngine, collection: Collection, embedder: Embedder, *, detect_pii: bool = True,
                 maintain_indexes: bool = True) -> None:
        self.engine = engine
        self.col = collection
        self.embedder = embedder
        self.detect = detect if detect_pii else None
        self.maintain_indexes = maintain_indexes

    # -- preparing (CPU, worker thread) ------------------------------------------------------

    def _chunk(self, src: SourceDocument) -> tuple[str, list[ChunkDraft]]:
        from gureum.knowledge.chunking import chunk
        from gureum.knowledge.cleaning import clean
        from gureum.knowledge.parsers import parse

        parsed = parse(src)
        parsed.blocks = clean(parsed.blocks)
        drafts = chunk(parsed, max_tokens=self.col.chunk_max_tokens, overlap=self.col.chunk_overlap,
                       token_count=self.embedder.token_count)
        return parsed.title or src.title, drafts

    def _prepare(self, src: SourceDocument, acl: list[str], acl_source: str, digest: str, is_update: bool) -> _Prepared:
        title, drafts = self._chunk(src)
        if not drafts:
            raise IngestError(src.uri, "no text to index after cleaning")
        rows: list[index.ChunkRow] = []
        texts: list[str] = []
        counts: list[int] = []
        header_terms: dict[tuple[str, ...], list[str]] = {}
        for d in drafts:
            path = tuple(d.heading_path)
            if path not in header_terms:
                header_terms[path] = lexical.terms(" > ".join(p for p in [title, *path] if p))
            sents, words = lexical.analyze(d.text)
            pii = sorted({e.type for e in self.detect(d.text)}) if self.detect else []
            rows.append(index.ChunkRow(d, Counter(header_terms[path] + words), pii, None))  # type: ignore[arg-type]
            units = [embed_text(title, d.heading_path, s) for s in sents]
            texts.extend(units)
            counts.append(len(units))
        residency = src.metadata.get("residency") if isinstance(src.metadata.get("residency"), str) else None
        row = index.DocumentRow(src.uri, title, src.media_type, digest, acl, acl_source, residency or self.col.residency,
                                src.metadata, rows)
        return _Prepared(row, texts, counts, is_update)

    def _next_batch(self, it: Iterator[SourceDocument], known: dict[str, str], report: IngestReport,
                    progress: Progress) -> list[_Prepared] | None:
        batch: list[_Prepared] = []
        n_units = 0
        for src in it:
            acl = list(src.acl.principals()) if not src.acl.empty else list(self.col.default_acl)
            acl_source = "source" if not src.acl.empty else "default"
            acl = index.normalise_acl(acl)
            digest = content_hash(self.col, src, acl)
            old = known.get(src.uri)
            if old == digest:
                report.unchanged += 1
                progress("skipped", 1)
                continue
            try:
                prepared = self._prepare(src, acl, acl_source, digest, old is not None)
            except IngestError as exc:
                report.failed.append((exc.uri, exc.message))
                progress("failed", 1)
                continue
            batch.append(prepared)
            n_units += len(prepared.texts)
            if n_units >= BATCH_UNITS or len(batch) >= BATCH_DOCS:
                return batch
        return batch or None

    # -- the pipeline ------------------------------------------------------------------------

    async def run(self, documents: Iterable[SourceDocument], *, progress: Progress | None = None,
                  report: IngestReport | None = None) -> IngestReport:
        report = report or IngestReport()
        progress = progress or (lambda event, n: None)
        started = time.perf_counter()
        known = await index.document_hashes(self.engine, self.col.id)
        it = iter(documents)
        to_embed: asyncio.Queue[list[_Prepared] | None] = asyncio.Queue(maxsize=2)
        to_write: asyncio.Queue[list[_Prepared] | None] = asyncio.Queue(maxsize=2)

        async def prepare() -> None:
            try:
                while (batch := await asyncio.to_thread(self._next_batch, it, known, report, progress)) is not None:
                    await to_embed.put(batch)
            finally:
                await to_embed.put(None)

        async def embed() -> None:
            try:
                while (batch := await to_embed.get()) is not None:
                    texts = [t for p in batch for t in p.texts]
                    # Where each document may be sent is its own residency (metadata) or the collection's.
                    tags = frozenset(p.row.residency for p in batch if p.row.residency)
                    vectors = await self.embedder.embed_passages(texts, data_tags=tags)
                    i = 0
                    for p in batch:
                        for c, n in zip(p.row.chunks, p.counts, strict=True):
                            c.sentence_vectors = vectors[i : i + n]
                            c.vector = normalise(c.sentence_vectors.mean(axis=0, keepdims=True))[0]
                            i += n
                    await to_write.put(batch)
            finally:
                await to_write.put(None)

        async def write() -> None:
            while (batch := await to_write.get()) is not None:
                await index.replace_documents(self.engine, self.col.tenant_id, self.col.id, self.col.dimensions,
                                              [p.row for p in batch])
                await bump_collection(self.col.tenant_id, self.col.name, self.engine)
                for p in batch:
                    if p.is_update:
                        report.updated += 1
                    else:
                        report.added += 1
                    known[p.row.uri] = p.row.content_hash
                    report.chunks += len(p.row.chunks)
                progress("indexed", len(batch))
                progress("chunks", sum(len(p.row.chunks) for p in batch))

        tasks = [asyncio.create_task(t()) for t in (prepare, embed, write)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        # An ACL set that grew past the threshold gets its own graph (cached answers were voided
        # batch by batch as they were written) — here, unless the caller hands the build to a job.
        if self.maintain_indexes:
            await index.maintain_set_indexes(self.engine, on_build=lambda _set, n: progress("set_index", n))
        report.seconds += time.perf_counter() - started
        return report

    async def sync(self, current_uris: set[str], report: IngestReport, progress: Progress | None = None,
                   want: Callable[[str], bool] | None = None) -> None:
        """Remove documents whose uri the source no longer has (of those `want` accepts: a worker's
        share of the source removes only its own share's documents)."""
        known = await index.document_hashes(self.engine, self.col.id)
        stale = sorted(u for u in set(known) - current_uris if want is None or want(u))
        report.deleted += await index.delete_documents_by_uri(self.engine, self.col.id, stale)
        if stale:
            await documents_changed(self.engine, self.col, maintain_indexes=self.maintain_indexes)
        if progress:
            progress("deleted", len(stale))


async def ingest_source(
    engine: AsyncEngine,
    collection: Collection,
    embedder: Embedder,
    uri: str,
    *,
    sync: bool = False,
    options: dict[str, Any] | None = None,
    progress: Progress | None = None,
    want: Callable[[str], bool] | None = None,
    maintain_indexes: bool = True,
) -> IngestReport:
    """Ingest everything a connector finds at `uri` into `collection` (only the documents whose uri
    `want` accepts, when given)."""
    from gureum.knowledge.connectors import open_source

    connector = open_source(uri, **(options or {}))
    current: set[str] | None = None
    if progress is not None or sync:
        uris = {u for u in await asyncio.to_thread(connector.list_uris) if want is None or want(u)}
        current = uris
        if progress is not None:
            progress("total", len(uris))
    ingestor = Ingestor(engine, collection, embedder, maintain_indexes=maintain_indexes)
    report = await ingestor.run(connector.documents(want), progress=progress)
    for err in getattr(connector, "errors", []):
        report.failed.append((err.uri, err.message))
    if sync:
        await ingestor.sync(current or set(), report, progress, want)
    return report

