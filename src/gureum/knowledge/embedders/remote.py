"""Any embedding deployment behind a provider adapter (OpenAI-compatible `/v1/embeddings` servers
such as OpenAI, vLLM, Ollama, TEI; Bedrock; Gemini), called through the adapter interface."""

from __future__ import annotations

import numpy as np

from gureum.knowledge.embedders.base import normalise
from gureum.providers.base import Provider
from gureum.tokens import estimate_tokens

BATCH = 64


class ProviderEmbedder:
    def __init__(self, *, name: str, provider: Provider, model: str, dimensions: int, max_tokens: int) -> None:
        self.name = name
        self.provider = provider
        self.model = model
        self.dimensions = dimensions
        self.max_tokens = max_tokens

    def token_count(self, text: str) -> int:
        return estimate_tokens(text)

    async def _embed(self, texts: list[str], kind: str) -> np.ndarray:
        out: list[list[float]] = []
        for i in range(0, len(texts), BATCH):
            result = await self.provider.embed(texts[i : i + BATCH], self.model, kind=kind)
            out.extend(result.vectors)
        arr = np.asarray(out, dtype=np.float32).reshape(len(texts), -1)
        return normalise(arr)

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return await self._embed(texts, "query")

    async def embed_passages(self, texts: list[str]) -> np.ndarray:
        return await self._embed(texts, "passage")
