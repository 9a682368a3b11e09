"""The embedded default: multilingual-e5-small in process (`providers/local/e5`).

The engine batches texts of similar length into one run, and each run has a fixed cost, so
texts go to it in large batches. It runs on a worker thread so the event loop stays free to
parse and write other batches meanwhile."""

from __future__ import annotations

import asyncio

import numpy as np

from gureum.providers.local.e5 import shared_engine
from gureum.providers.local.embed import E5Embedder


class LocalE5:
    dimensions = E5Embedder.dimensions
    max_tokens = E5Embedder.max_tokens

    def __init__(self, name: str = "local-embed", threads: int = 2) -> None:
        self.name = name
        self._engine = shared_engine(threads)

    def token_count(self, text: str) -> int:
        return self._engine.token_count(text)

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self._engine.encode, texts, "query")

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self._engine.encode, texts, "passage")
