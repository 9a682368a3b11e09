"""Hybrid retrieval: lexical (BM25 over kiwi morphemes and English stems) and dense (e5, HNSW)
candidates from the chunks the caller may read, fused in one SQL statement.

Fusion is a weighted sum of per-query z-normalised scores over the candidate set: each
retriever's scores are put on a common scale (how many standard deviations a chunk stands out
from this query's candidates) before they are added, so neither retriever's raw scale (BM25 is
unbounded, cosine sits in a narrow band) decides the mix. Reciprocal-rank fusion throws the
score gaps away, which is why it falls below BM25 alone on KorQuAD. The two retrievers weigh
the same by default.

Reranking (optional, a catalog model of kind `rerank`) reorders the top fused hits by a
cross-encoder's scores. It only ever improves an order retrieval already has, so when the
reranker fails — down, too slow, refused by policy — the fused order is returned and the result
says why, rather than the retrieval failing.

The two model calls retrieval needs — the query's vector and the reranker's scores — are asked
of a `ModelCalls` the caller supplies: the platform's makes them through the governed flow, as
the calling user, as sub-calls of the request retrieval serves.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.errors import GureumError, InvalidRequest
from gureum.knowledge import index, lexical
from gureum.knowledge.collections import Collection, scope

log = logging.getLogger("gureum.knowledge")

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
    reranker: str | None = None  # a rerank model for this call instead of the collection's

    def weights(self) -> tuple[float, float]:
        if self.mode == "lexical":
            return 1.0, 0.0
        if self.mode == "dense":
            return 0.0, 1.0
        return self.w_lexical, self.w_dense


def check_query(query: str, options: Options) -> None:
    if not query or not query.strip():
        raise InvalidRequest("the query is empty", param="query")
    if not 1 <= options.k <= MAX_K:
        raise InvalidRequest(f"k must be between 1 and {MAX_K}", param="k")


async def retrieve(
    engine: AsyncEngine,
    col: Collection,
    principals: list[str] | tuple[str, ...],
    query: str,
    query_vector: np.ndarray,
    options: Options = Options(),
) -> list[index.Hit]:
    """The top `options.k` chunks of `col` for `query` (embedded as `query_vector` by the
    collection's embedder) that `principals` may read."""
    check_query(query, options)
    w_lex, w_dense = options.weights()
    terms = lexical.terms(query)
    return await index.search(
        engine, scope(col, principals), terms=terms, query_vector=query_vector,  # type: ignore[arg-type]
        k=options.k, candidates=max(options.candidates, options.k), w_lexical=w_lex, w_dense=w_dense,
        sentences=options.sentences,
    )


class ModelCalls(Protocol):
    """The model calls of one retrieval, made under the caller's governance."""

    async def embed_query(self, col: Collection, query: str) -> np.ndarray:
        """`query`'s vector from the collection's embedder."""
        ...

    async def rerank(self, col: Collection, model: str, query: str, hits: list[index.Hit]) -> dict[int, float]:
        """Scores of `hits` against `query` by the rerank model `model` (which deployments it may
        use and what text may leave for them are the caller's governance). Returns hit index ->
        score for the hits it scored; a hit it did not send keeps its fused place."""
        ...


@dataclass(slots=True)
class Retrieved:
    hits: list[index.Hit]
    rerank_scores: dict[int, float] = field(default_factory=dict)  # chunk id -> the reranker's score
    rerank: dict[str, Any] | None = None  # what reranking did (None: not asked for)


async def rerank(col: Collection, model: str, query: str, hits: list[index.Hit], k: int, calls: ModelCalls) -> Retrieved:
    """The top `k` of `hits` (fused order) after the rerank model reordered the collection's
    `rerank_candidates` best of them (any further hits follow in fused order); the fused top `k`,
    with the error in `rerank`, when the reranker fails."""
    candidates = hits[: col.rerank_candidates]
    report: dict[str, Any] = {"model": model, "candidates": len(candidates)}
    try:
        scores = await calls.rerank(col, model, query, candidates)
    except GureumError as exc:
        error = {"code": exc.code, "message": exc.message}
    except Exception:  # an adapter's bug must not cost the caller the fused results
        log.exception("reranking with '%s' failed", model)
        error = {"code": "rerank_failed", "message": f"the reranker '{model}' failed unexpectedly"}
    else:
        # Each slot that held a scored hit takes the next best scored one; the others stay put.
        best = iter(sorted(scores, key=lambda i: -scores[i]))
        order = [next(best) if i in scores else i for i in range(len(hits))][:k]
        top = [hits[i] for i in order]
        scored = {h.chunk_id: scores[i] for h, i in zip(top, order, strict=True) if i in scores}
        return Retrieved(top, scored, {**report, "scored": len(scores)})
    log.warning("reranking with '%s' failed (%s); fused order kept", model, error["message"])
    return Retrieved(hits[:k], rerank={**report, "error": error})
