"""Hybrid retrieval: lexical (BM25 over kiwi morphemes and English stems) and dense (e5, HNSW)
candidates from the chunks the caller may read, fused in one SQL statement.

Fusion is a weighted sum of per-query z-normalised scores over the candidate set: each
retriever's scores are put on a common scale (how many standard deviations a chunk stands out
from this query's candidates) before they are added, so neither retriever's raw scale (BM25 is
unbounded, cosine sits in a narrow band) decides the mix. Reciprocal-rank fusion throws the
score gaps away, which is why it falls below BM25 alone on KorQuAD. The two retrievers weigh
the same by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.errors import InvalidRequest
from gureum.knowledge import index, lexical
from gureum.knowledge.collections import Collection, scope
from gureum.knowledge.embedders import Embedder

Mode = Literal["hybrid", "lexical", "dense"]
CANDIDATES = 50  # per retriever, before fusion
MAX_K = 100


@dataclass(frozen=True, slots=True)
class Options:
    k: int = 10
    mode: Mode = "hybrid"
    candidates: int = CANDIDATES
    w_lexical: float = 1.0
    w_dense: float = 1.0
    sentences: bool = True  # dense score = best sentence of the chunk (else the chunk vector)

    def weights(self) -> tuple[float, float]:
        if self.mode == "lexical":
            return 1.0, 0.0
        if self.mode == "dense":
            return 0.0, 1.0
        return self.w_lexical, self.w_dense


async def retrieve(
    engine: AsyncEngine,
    col: Collection,
    embedder: Embedder,
    principals: list[str] | tuple[str, ...],
    query: str,
    options: Options = Options(),
    *,
    query_vector: object | None = None,
) -> list[index.Hit]:
    """The top `options.k` chunks of `col` for `query` that `principals` may read."""
    if not query or not query.strip():
        raise InvalidRequest("the query is empty", param="query")
    if not 1 <= options.k <= MAX_K:
        raise InvalidRequest(f"k must be between 1 and {MAX_K}", param="k")
    w_lex, w_dense = options.weights()
    terms = lexical.terms(query)
    if query_vector is None:
        query_vector = (await embedder.embed_queries([query]))[0]
    return await index.search(
        engine, scope(col, principals), terms=terms, query_vector=query_vector,  # type: ignore[arg-type]
        k=options.k, candidates=max(options.candidates, options.k), w_lexical=w_lex, w_dense=w_dense,
        sentences=options.sentences,
    )
