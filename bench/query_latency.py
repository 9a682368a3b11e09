"""Query latency of ACL-filtered hybrid retrieval at 100k and 1M chunks (synthetic corpus).

The corpus is written through the product's write path (`index.replace_documents`: COPY of
chunks, sentence vectors and postings, statistics per ACL set) with the HNSW index dropped during
the load and built once afterwards, as a bulk load would. Terms follow a Zipf law over a 50k
vocabulary, and every chunk belongs to one of 20 groups (10% are tenant-wide): the querying
principal may read 20% of the chunks, so both retrievers must filter inside the index query.
Two kinds of vectors (`--vectors`):

  isotropic  1,000 topic centres plus isotropic noise — the hard case for a graph index, since
             the members of a topic are nearly equidistant from any query;
  e5         shaped like real e5 embeddings: the mean and the between-/within-paragraph
             covariances of the shared KorQuAD and SQuAD sentence vectors, with real e5 query
             vectors of the datasets' questions as queries.

The bench server runs with `--shared-buffers` (6 GB; PostgreSQL's default is 128 MB), so the working
set of a 1M-chunk collection stays in the server's own memory rather than in a page cache the
VM reclaims. After the load the large ACL sets get their own HNSW indexes (`index.maintain_set_indexes`, as
ingestion does), and each `--ef` is measured twice in the same run: with the default dense plan
(`plan: planned` — own indexes, exact scoring of small readable shares) and with the shared
collection-wide index alone, filtered by ACL (`plan: shared`, what every query did before).

Reported: p50/p99 of `index.search` (BM25 top-50 + ANN top-50 + best-sentence scoring + fusion in
one statement, k=10) on a second pass over the queries (the first pass, `cold_p50_ms`, reads the
working set into the page cache); ANN recall@10 of the dense candidates against exact filtered
search, both for the ANN's own top 10 and for the 50 candidates search() scores exactly.

    python bench/query_latency.py --chunks 100000 [--chunks 1000000] [--queries 300] [--ef 100 ...]
        [--vectors isotropic|e5] [--keep] [--plans planned,shared]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from _common import database_url
from sqlalchemy import text

from gureum.config import load_settings
from gureum.errors import NotFound
from gureum.knowledge import collections, index
from gureum.knowledge.documents import ChunkDraft
from gureum.knowledge.index import dense
from gureum.store import open_store

DIMS = 384
GROUPS = 20
VOCAB = 50_000
TOPICS = 1_000
SENTENCES = 2
PRINCIPALS = ("*", "user:u1", "group:g3", "group:g7")


def _acl(i: int) -> list[str]:
    return ["*"] if i % 10 == 0 else [f"group:g{i % GROUPS}"]


class Corpus:
    """Isotropic clusters: 1,000 unit topic centres, each vector its centre plus isotropic noise
    (the hard case for a graph index: members of a topic are nearly equidistant)."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = np.random.default_rng(seed)
        centers = self.rng.standard_normal((TOPICS, DIMS)).astype(np.float32)
        self.centers = centers / np.linalg.norm(centers, axis=1, keepdims=True)
        ranks = np.arange(1, VOCAB + 1)
        p = 1.0 / ranks**1.07
        self.p = p / p.sum()

    def vectors(self, topics: np.ndarray, noise: float = 0.9) -> np.ndarray:
        v = self.centers[topics] + noise * self.rng.standard_normal((len(topics), DIMS)).astype(np.float32) / np.sqrt(DIMS)
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    def sentence_vectors(self, m: int) -> np.ndarray:
        topics = self.rng.integers(0, TOPICS, m)
        return self.vectors(np.repeat(topics, SENTENCES)).reshape(m, SENTENCES, DIMS)

    def query_vectors(self, n: int) -> np.ndarray:
        return self.vectors(self.rng.integers(0, TOPICS, n), noise=1.2)

    def terms(self, n: int) -> list[Counter[str]]:
        draws = self.rng.choice(VOCAB, size=(n, 40), p=self.p)
        return [Counter(f"t{t}" for t in row) for row in draws]


class E5Corpus(Corpus):
    """Vectors shaped like real e5 embeddings: sentence vectors of the shared KorQuAD and SQuAD
    corpora (embedded as ingestion does, header line + sentence) give the covariance of paragraph
    means (between) and of sentences around their paragraph's mean (within); a synthetic chunk is
    a draw of its own mean from N(mean, between) and its sentences around it from N(0, within).
    Queries are real e5 query vectors of the datasets' questions."""

    def __init__(self, data: Path, seed: int = 7) -> None:
        super().__init__(seed)
        cache = Path(__file__).parent / ".work" / "e5-corpus-stats.npz"
        if not cache.exists():
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.savez(cache, **self._embed(data))
        z = np.load(cache)
        sents, owner, self.questions = z["sentences"], z["owner"], z["questions"]
        means = np.stack([sents[owner == i].mean(axis=0) for i in np.unique(owner)])
        self.mean = means.mean(axis=0)
        self.between = np.linalg.cholesky(np.cov(means, rowvar=False) + 1e-6 * np.eye(DIMS))
        self.within = np.linalg.cholesky(np.cov(sents - means[np.searchsorted(np.unique(owner), owner)], rowvar=False)
                                         + 1e-6 * np.eye(DIMS))

    @staticmethod
    def _embed(data: Path) -> dict[str, np.ndarray]:
        from gureum.knowledge import lexical
        from gureum.knowledge.ingest import embed_text
        from gureum.providers.local.e5 import E5Engine

        engine = E5Engine(threads=2)
        texts: list[str] = []
        owner: list[int] = []
        questions: list[str] = []
        for name in ("korquad", "squad"):
            for line in (data / name / "corpus.jsonl").open(encoding="utf-8"):
                d = json.loads(line)
                sents = lexical.sentences(d["text"])
                texts.extend(embed_text(d["title"], [], s) for s in sents)
                owner.extend([owner[-1] + 1 if owner else 0] * len(sents))
            for line in (data / name / "queries.jsonl").open(encoding="utf-8"):
                questions.append(json.loads(line)["text"])
        print(f"  embedding {len(texts)} sentences for the e5-shaped corpus", file=sys.stderr, flush=True)
        return {"sentences": engine.encode(texts), "owner": np.asarray(owner),
                "questions": engine.encode(questions, "query")}

    def sentence_vectors(self, m: int) -> np.ndarray:
        centres = self.mean + self.rng.standard_normal((m, DIMS)).astype(np.float32) @ self.between.T
        v = centres[:, None, :] + self.rng.standard_normal((m, SENTENCES, DIMS)).astype(np.float32) @ self.within.T
        return (v / np.linalg.norm(v, axis=2, keepdims=True)).astype(np.float32)

    def query_vectors(self, n: int) -> np.ndarray:
        return self.questions[self.rng.choice(len(self.questions), n, replace=False)]


async def load(engine, col: collections.Collection, corpus: Corpus, n: int, batch: int = 2000) -> float:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        await conn.execute(text(f"DROP INDEX IF EXISTS chunks_embedding_hnsw_{DIMS}"))
    t0 = time.perf_counter()
    for start in range(0, n, batch):
        m = min(batch, n - start)
        sv = corpus.sentence_vectors(m)
        mean = sv.mean(axis=1)
        mean /= np.linalg.norm(mean, axis=1, keepdims=True)
        terms = corpus.terms(m)
        docs = []
        for j in range(m):
            i = start + j
            draft = ChunkDraft(0, f"synthetic chunk {i}", [], None, 0, 0, 40)
            row = index.ChunkRow(draft, terms[j], [], mean[j], sv[j])
            docs.append(index.DocumentRow(f"doc-{i}", f"doc {i}", "text/plain", f"h{i}", _acl(i), "source", None, {}, [row]))
        await index.replace_documents(engine, col.tenant_id, col.id, DIMS, docs)
        if (start // batch) % 25 == 0:
            print(f"  loaded {start + m}/{n} ({(start + m) / (time.perf_counter() - t0):.0f} chunks/s)", file=sys.stderr, flush=True)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(text("SET maintenance_work_mem = '2GB'"))
        await conn.execute(text("SET max_parallel_maintenance_workers = 1"))
    await index.ensure_vector_index(engine, DIMS)
    async with engine.begin() as conn:
        await conn.execute(text("ANALYZE"))
    print(f"  HNSW build {time.perf_counter() - t1:.0f}s", file=sys.stderr, flush=True)
    return load_s


async def measure(engine, col: collections.Collection, qv: np.ndarray, qterms: list[list[str]], ef: int | None,  # type: ignore[no-untyped-def]
                  own: bool) -> dict[str, object]:
    scope = collections.scope(col, PRINCIPALS)
    queries = len(qv)
    # "shared" is the search as it was before plans: the collection-wide index for every query.
    how = {"own_indexes": own, "exact_max": dense.EXACT_MAX if own else 0}
    passes: list[list[float]] = [[], []]
    # The first pass reads what the queries need from disk into the page cache; the second is
    # the steady state of a server whose working set fits in memory.
    for lat in passes:
        for i in range(queries):
            t = time.perf_counter()
            hits = await index.search(engine, scope, terms=qterms[i], query_vector=qv[i], k=10, candidates=50,
                                      w_lexical=1.0, w_dense=1.0, ef_search=ef, **how)
            lat.append((time.perf_counter() - t) * 1000)
            assert len(hits) == 10
    cold, lat = passes
    recall, recall_cand = [], []
    for i in range(min(100, queries)):
        exact = set(await index.exact_dense(engine, scope, qv[i], 10))
        ann = await index.ann_dense(engine, scope, qv[i], 50, ef_search=ef, **how)
        recall.append(len(set(ann[:10]) & exact) / 10)
        # What search() ranks by: it scores all 50 ANN candidates exactly, so the exact top-10
        # come out on top whenever they are among the candidates.
        recall_cand.append(len(set(ann) & exact) / 10)
    readable = await index.readable_chunk_count(engine, scope)
    plan = await index.dense_plan(engine, scope, **how)
    arr = np.asarray(lat)
    return {"plan": "planned" if own else "shared",
            "dense_parts": {"own_indexes": len(plan.own), "exact_sets": len(plan.exact), "shared_sets": len(plan.shared)},
            "p50_ms": round(float(np.percentile(arr, 50)), 2), "p99_ms": round(float(np.percentile(arr, 99)), 2),
            "cold_p50_ms": round(float(np.percentile(cold, 50)), 2),
            "mean_ms": round(float(arr.mean()), 2), "ann_recall@10": round(float(np.mean(recall)), 4),
            "ann_recall@10_in_50_candidates": round(float(np.mean(recall_cand)), 4),
            "readable_chunks": readable}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, action="append")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--ef", type=int, action="append",
                    help="hnsw.ef_search for every walk (default: dense.EF_SEARCH)")
    ap.add_argument("--vectors", choices=["isotropic", "e5"], default="isotropic",
                    help="isotropic topic clusters, or vectors with the statistics of real e5 embeddings")
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/retrieval"))
    ap.add_argument("--plans", default="planned,shared",
                    help="dense plans to measure: planned (own set indexes, exact small shares), shared (one index)")
    ap.add_argument("--shared-buffers", default="6GB",
                    help="shared_buffers of the embedded bench server, sized for the 1M working set as a production "
                         "server would be (gureum's own embedded server: store.embedded_server)")
    ap.add_argument("--keep", action="store_true",
                    help="load into a fixed database under bench/.work once and reuse it on later runs")
    args = ap.parse_args()
    # One database per vector kind: every collection of a dimension shares one HNSW index.
    server = {"shared_buffers": args.shared_buffers, "effective_cache_size": "16GB"}
    url = database_url(f"bench_latency_{args.vectors}".replace("_isotropic", "") if args.keep else None, server)
    settings = load_settings(use_file=False, database_url=url, data_dir=Path(__file__).parent / ".work")
    store = await open_store(settings.data_dir, url, pool_size=2)
    try:
        for n in args.chunks or [100_000]:
            corpus = E5Corpus(Path(args.data)) if args.vectors == "e5" else Corpus()
            name = f"latency-{n}" if args.keep else f"latency-{n}-{os.getpid()}"
            try:
                col = await collections.get(store.engine, "bench", name)
                load_rate = None
                corpus.rng = np.random.default_rng(11)  # fresh queries, not the load's draws
            except NotFound:
                col = await collections.create(store.engine, settings, "bench", name)
                load_rate = round(n / await load(store.engine, col, corpus, n))
            t = time.perf_counter()
            built = await index.maintain_set_indexes(store.engine)
            if built.built:
                print(f"  own HNSW indexes of {len(built.built)} ACL sets in {time.perf_counter() - t:.0f}s",
                      file=sys.stderr, flush=True)
            qv = corpus.query_vectors(args.queries)
            qterms = [list(c)[:4] for c in corpus.terms(args.queries)]
            for ef in args.ef or [None]:
                for plan in args.plans.split(","):
                    res = await measure(store.engine, col, qv, qterms, ef, own=plan == "planned")
                    print({"chunks": n, "ef_search": ef or dense.EF_SEARCH, "load_chunks_per_s": load_rate, **res,
                           "machine": f"{platform.node()} {os.cpu_count()} cpu"}, flush=True)
    finally:
        await store.close()


if __name__ == "__main__":
    asyncio.run(main())
