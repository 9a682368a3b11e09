"""Retrieval evaluation on BEIR-format datasets (`corpus.jsonl`, `queries.jsonl`, `qrels.tsv`).

The corpus is ingested through the product pipeline (parse, clean, chunk, embed, index) into a
fresh temporary collection, each query is retrieved through the same ACL-scoped hybrid search
an API caller gets, chunks are mapped to their documents (a document ranks where its best chunk
ranks), and Recall@1/5/10, MRR@10 and nDCG@10 are computed against the qrels.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.config import Settings
from gureum.errors import InvalidRequest
from gureum.knowledge import collections
from gureum.knowledge.documents import SourceDocument
from gureum.knowledge.embedders import Embedder
from gureum.knowledge.ingest import Ingestor, IngestReport, Progress
from gureum.knowledge.retrieve import Options, retrieve

EVAL_TENANT = "eval"

# The embedder of a collection (the platform's governed one, or a benchmark's wrapper of it).
EmbedderFor = Callable[[collections.Collection], Embedder]


@dataclass
class Dataset:
    name: str
    corpus: list[dict[str, Any]]
    queries: list[dict[str, Any]]
    qrels: dict[str, dict[str, int]]


def load_beir(path: Path | str) -> Dataset:
    root = Path(path)
    for f in ("corpus.jsonl", "queries.jsonl", "qrels.tsv"):
        if not (root / f).exists():
            raise InvalidRequest(f"{root} is not a BEIR dataset: {f} is missing")
    corpus = [json.loads(line) for line in (root / "corpus.jsonl").open(encoding="utf-8") if line.strip()]
    queries = [json.loads(line) for line in (root / "queries.jsonl").open(encoding="utf-8") if line.strip()]
    qrels: dict[str, dict[str, int]] = {}
    with (root / "qrels.tsv").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or (i == 0 and not parts[2].strip().lstrip("-").isdigit()):
                continue
            if int(parts[2]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries = [q for q in queries if q["_id"] in qrels]
    return Dataset(root.name, corpus, queries, qrels)


def source_documents(ds: Dataset) -> Iterator[SourceDocument]:
    for d in ds.corpus:
        yield SourceDocument(uri=str(d["_id"]), content=str(d.get("text", "")).encode("utf-8"),
                             title=str(d.get("title") or ""), media_type="text/plain")


def score(ranked: dict[str, list[str]], qrels: dict[str, dict[str, int]]) -> dict[str, float]:
    """Recall@1/5/10, MRR@10, nDCG@10 (binary or graded gains) over the queries in `ranked`."""
    r1 = r5 = r10 = mrr = ndcg = 0.0
    for qid, docs in ranked.items():
        rel = qrels.get(qid, {})
        if not rel:
            continue
        n_rel = len(rel)
        hits = [d in rel for d in docs[:10]]
        r1 += sum(hits[:1]) / min(n_rel, 1)
        r5 += sum(hits[:5]) / min(n_rel, 5)
        r10 += sum(hits[:10]) / min(n_rel, 10)
        first = next((i for i, h in enumerate(hits) if h), None)
        mrr += 1.0 / (first + 1) if first is not None else 0.0
        dcg = sum((2 ** rel.get(d, 0) - 1) / math.log2(i + 2) for i, d in enumerate(docs[:10]))
        ideal = sorted(rel.values(), reverse=True)[:10]
        idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
        ndcg += dcg / idcg if idcg else 0.0
    n = max(len(ranked), 1)
    return {"recall@1": r1 / n, "recall@5": r5 / n, "recall@10": r10 / n, "mrr@10": mrr / n, "ndcg@10": ndcg / n}


async def ingest_dataset(engine: AsyncEngine, settings: Settings, ds: Dataset, embedder: EmbedderFor, *,
                         progress: Progress | None = None) -> tuple[collections.Collection, Embedder, IngestReport]:
    col = await collections.create(engine, settings, EVAL_TENANT, f"eval-{ds.name[:40]}-{uuid.uuid4().hex[:8]}",
                                   description=f"temporary: retrieval evaluation of {ds.name}")
    emb = embedder(col)
    report = await Ingestor(engine, col, emb, detect_pii=False).run(source_documents(ds), progress=progress)
    return col, emb, report


async def run_queries(engine: AsyncEngine, col: collections.Collection, emb: Embedder, ds: Dataset, options: Options,
                      query_vectors: np.ndarray | None = None) -> tuple[dict[str, list[str]], dict[str, float]]:
    texts = [str(q["text"]) for q in ds.queries]
    t0 = time.perf_counter()
    if query_vectors is None:
        query_vectors = await emb.embed_queries(texts)
    embed_s = time.perf_counter() - t0
    ranked: dict[str, list[str]] = {}
    lat: list[float] = []
    k_chunks = min(100, max(options.k, 10) * 3)
    opts = dataclasses.replace(options, k=k_chunks, candidates=max(options.candidates, k_chunks))
    for q, text, vec in zip(ds.queries, texts, query_vectors, strict=True):
        t = time.perf_counter()
        hits = await retrieve(engine, col, ["*"], text, vec, opts)
        lat.append((time.perf_counter() - t) * 1000)
        docs: list[str] = []
        for h in hits:
            if h.uri not in docs:
                docs.append(h.uri)
        ranked[str(q["_id"])] = docs[: max(options.k, 10)]
    arr = np.asarray(lat or [0.0])
    timing = {"query_embed_ms": round(embed_s * 1000 / max(len(texts), 1), 2),
              "query_ms_p50": round(float(np.percentile(arr, 50)), 2),
              "query_ms_p99": round(float(np.percentile(arr, 99)), 2)}
    return ranked, timing


async def evaluate(engine: AsyncEngine, settings: Settings, path: Path | str, embedder: EmbedderFor, *,
                   options: Options | None = None, keep: bool = False,
                   progress: Progress | None = None) -> dict[str, Any]:
    """Ingest the dataset into a temporary collection, run every query, return one result row."""
    options = options or Options()
    ds = load_beir(path)
    col, emb, report = await ingest_dataset(engine, settings, ds, embedder, progress=progress)
    try:
        ranked, timing = await run_queries(engine, col, emb, ds, options)
    finally:
        if not keep:
            await collections.delete(engine, col)
    out: dict[str, Any] = {"dataset": ds.name, "mode": options.mode, "documents": len(ds.corpus),
                           "chunks": report.chunks, "queries": len(ds.queries), "k": options.k}
    out.update({k: round(v, 4) for k, v in score(ranked, ds.qrels).items()})
    out.update({"ingest_seconds": round(report.seconds, 2),
                "ingest_docs_per_s": round(len(ds.corpus) / max(report.seconds, 1e-9), 2), **timing})
    if report.failed:
        out["ingest_failed"] = len(report.failed)
    return out
