"""The semantic cache: the last user turn is embedded with multilingual-e5-small (the offline
engine in `providers/local/e5`, query form), the closest stored requests *of the same scope* are
fetched from pgvector (HNSW, cosine), and the equivalence model (`gureum.cache.decision`) decides
for each whether its answer serves the new request: a calibrated probability against the
threshold of the caller's false-hit budget.

Only the new request is analysed at lookup; a stored request's analysis was made when it was
written and comes back with the row. The scope (tenant or user, model, parameters, history, and
for RAG answers the ACL principals, collection generation and retrieved context) is in the SQL
condition, so a candidate of another scope is never seen, let alone decided on.

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
from gureum.cache.analysis import Analysis, analyse, kiwi
from gureum.cache.decision import EquivalenceModel, Thresholds, Verdict, shipped
from gureum.cache.store import Answer

CANDIDATES = 4  # nearest stored requests the model decides on


@dataclass(slots=True)
class SemanticHit:
    answer: Answer
    verdict: Verdict


@dataclass(slots=True)
class SemanticMiss:
    embedding: list[float] | None
    reason: str
    verdict: Verdict | None = None  # the best candidate's, if any was decided on


class SemanticCache:
    def __init__(
        self, engine: AsyncEngine, embedder: Any | None = None, max_waiting: int = 8,
        model: EquivalenceModel | None = None,
    ) -> None:
        self.engine = engine
        self._embedder = embedder
        self._lock = threading.Lock()
        self.max_waiting = max_waiting
        self._waiting = 0
        self.model = model or shipped()

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

    async def lookup(self, scope: str, query: str, thresholds: Thresholds) -> SemanticHit | SemanticMiss:
        vector = await self.embed(query)
        if vector is None:
            return SemanticMiss(None, "embedder busy")
        candidates = await store.nearest(self.engine, scope, vector, CANDIDATES)
        if not candidates:
            return SemanticMiss(vector, "no stored request in this scope")
        if candidates[0][0] < self.model.min_cosine:
            return SemanticMiss(vector, f"closest cosine {candidates[0][0]:.3f} below {self.model.min_cosine:.2f}")
        # The morphological analysis runs off the event loop (and waits there for a warm-up).
        found = await asyncio.to_thread(self.decide, query, candidates, thresholds)
        if isinstance(found, SemanticHit):
            return found
        return SemanticMiss(vector, found.reason if found else "no candidate", found)

    def decide(
        self, query: str, candidates: list[tuple[float, Answer, dict[str, Any] | None]], thresholds: Thresholds
    ) -> SemanticHit | Verdict | None:
        """The best-scoring candidate's hit, or the best verdict when none clears the threshold."""
        new = analyse(query)
        best: tuple[Verdict, Answer] | None = None
        for cosine, answer, stored_analysis in candidates:
            stored = (Analysis.from_json(stored_analysis) if stored_analysis else None) or analyse(answer.query)
            verdict = self.model.decide(new, stored, cosine, thresholds)
            if best is None or verdict.probability > best[0].probability:
                best = (verdict, answer)
        if best is None:
            return None
        verdict, answer = best
        return SemanticHit(answer, verdict) if verdict.served else verdict
