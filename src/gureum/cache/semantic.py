"""The semantic cache: the last user turn is embedded with multilingual-e5-small (the offline
engine in `providers/local/e5`, query form), the closest stored requests *of the same scope* are fetched from
pgvector (HNSW, cosine), and a candidate is a hit only if it clears the cosine threshold and its
term signature agrees with the request's (`gureum.cache.terms.compatible`).

The embedder answers one call at a time; when more than `max_waiting` lookups queue for it, the
semantic lookup is skipped (exact caching still applies) rather than slowing every request.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.cache import store
from gureum.cache.store import Answer
from gureum.cache.terms import compatible, kiwi, signature

CANDIDATES = 4  # nearest stored requests checked against the guard


@dataclass(slots=True)
class SemanticHit:
    answer: Answer
    similarity: float
    reason: str


@dataclass(slots=True)
class SemanticMiss:
    embedding: list[float] | None
    reason: str


class SemanticCache:
    def __init__(self, engine: AsyncEngine, embedder: Any | None = None, max_waiting: int = 8) -> None:
        self.engine = engine
        self._embedder = embedder
        self._lock = threading.Lock()
        self.max_waiting = max_waiting
        self._waiting = 0

    def embedder(self) -> Any:
        if self._embedder is None:
            with self._lock:
                if self._embedder is None:
                    from gureum.providers.local.embed import E5Embedder

                    self._embedder = E5Embedder(threads=1)
        return self._embedder

    def warm(self) -> None:
        """Load the embedder and the Korean analyser (about a second) before the first request."""
        self.embedder().encode(["warm up"], kind="query")
        kiwi().tokenize("준비")

    async def embed(self, query: str) -> list[float] | None:
        if self._waiting >= self.max_waiting:
            return None
        self._waiting += 1
        try:
            vectors = await asyncio.to_thread(self.embedder().encode, [query], kind="query")
        finally:
            self._waiting -= 1
        return list(vectors[0])

    async def lookup(self, scope: str, query: str, threshold: float, min_overlap: float) -> SemanticHit | SemanticMiss:
        vector = await self.embed(query)
        if vector is None:
            return SemanticMiss(None, "embedder busy")
        candidates = await store.nearest(self.engine, scope, vector, CANDIDATES)
        if not candidates:
            return SemanticMiss(vector, "no stored request in this scope")
        # The morphological analysis runs off the event loop (and waits there for a warm-up).
        found = await asyncio.to_thread(self._guard, query, candidates, threshold, min_overlap)
        if isinstance(found, SemanticHit):
            return found
        return SemanticMiss(vector, found)

    @staticmethod
    def _guard(
        query: str, candidates: list[tuple[float, Answer]], threshold: float, min_overlap: float
    ) -> SemanticHit | str:
        sig = signature(query)
        refusals: list[str] = []
        for sim, answer in candidates:
            if sim < threshold:
                refusals.append(f"closest similarity {sim:.3f} < {threshold:.3f}")
                break  # ordered by similarity
            ok, why = compatible(sig, signature(answer.query), min_overlap)
            if ok:
                return SemanticHit(answer, sim, f"similarity {sim:.3f} >= {threshold:.3f}; {why}")
            refusals.append(f"similarity {sim:.3f} but {why}")
        return "; ".join(refusals[:2])
