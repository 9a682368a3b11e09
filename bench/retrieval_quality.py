"""Retrieval quality of each component on the public KorQuAD and SQuAD sets (BEIR layout).

Each dataset is ingested once through the product pipeline (parse, clean, chunk, sentence
embeddings, index) into a fresh collection; then every query is run through the same SQL search
an API caller gets, in five configurations:

  lexical        BM25 over kiwi morphemes / English stems (in PostgreSQL)
  dense          chunk vectors (mean of the chunk's sentence vectors), HNSW
  dense-sent     dense candidates scored by their best sentence
  fused          lexical + dense (chunk vectors), z-score fusion
  fused+sent     lexical + best-sentence dense, z-score fusion  <- the default

    python bench/retrieval_quality.py [--data ../shared/data/retrieval] [--datasets korquad squad] [--no-cache]

e5 vectors are cached under bench/.work/emb (by model + exact text) so re-runs skip embedding;
`gureum eval retrieval` does the same measurement of the default without any cache.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _common import CachedEmbedder, database_url

from gureum.config import load_settings
from gureum.governance.principal import Principal
from gureum.knowledge import collections
from gureum.knowledge.evaluate import (
    EVAL_TENANT,
    ingest_dataset,
    load_beir,
    run_queries,
    score,
)
from gureum.knowledge.retrieve import Options
from gureum.platform import Platform

CONFIGS = {
    "lexical": Options(mode="lexical"),
    "dense": Options(mode="dense", sentences=False),
    "dense-sent": Options(mode="dense", sentences=True),
    "fused": Options(mode="hybrid", sentences=False),
    "fused+sent": Options(mode="hybrid", sentences=True),
}


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/retrieval"))
    ap.add_argument("--datasets", nargs="+", default=["korquad", "squad"])
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS))
    ap.add_argument("--no-cache", action="store_true")
    args = ap.parse_args()
    url = database_url()
    settings = load_settings(use_file=False, database_url=url, data_dir=Path(__file__).parent / ".work")
    gureum = await Platform.start(settings, bootstrap_keys=False)
    store = gureum.store
    principal = Principal.service(EVAL_TENANT, "bench")
    rows = []
    try:
        for name in args.datasets:
            ds = load_beir(Path(args.data) / name)

            def embedder(col: Any) -> Any:  # the governed embedder, its vectors cached on disk across runs
                inner = gureum.embedder(principal, col, origin="bench")
                return inner if args.no_cache else CachedEmbedder(inner)

            t = time.perf_counter()
            col, emb, report = await ingest_dataset(store.engine, settings, ds, embedder)
            print(f"# {name}: {len(ds.corpus)} docs -> {report.chunks} chunks in {time.perf_counter() - t:.1f}s "
                  f"(cache hits {getattr(emb, 'hits', 0)}, misses {getattr(emb, 'misses', 0)})", file=sys.stderr)
            qvecs = await emb.embed_queries([str(q["text"]) for q in ds.queries])
            for cfg in args.configs:
                ranked, timing = await run_queries(store.engine, col, emb, ds, CONFIGS[cfg], query_vectors=qvecs)
                m = {k: round(v, 4) for k, v in score(ranked, ds.qrels).items()}
                row = {"dataset": name, "config": cfg, **m, **timing}
                rows.append(row)
                print(json.dumps(row), flush=True)
            await collections.delete(store.engine, col)
    finally:
        await gureum.stop()
    print("\n| dataset | component | R@1 | R@5 | R@10 | MRR@10 | nDCG@10 | query p50 ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['dataset']} | {r['config']} | {r['recall@1']:.3f} | {r['recall@5']:.3f} | {r['recall@10']:.3f} | "
              f"{r['mrr@10']:.3f} | {r['ndcg@10']:.3f} | {r['query_ms_p50']} |")
    print(f"\n{platform.node()} {platform.processor() or platform.machine()}; python {platform.python_version()}")


if __name__ == "__main__":
    asyncio.run(main())
