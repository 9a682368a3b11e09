"""The shadow sample: a share of semantic hits is also answered by the model (a governed `shadow`
sub-call, costed like any call), and the fresh answer is compared with the one the cache served.
The share of differing answers is the live false-hit estimate per tenant that tightens the
semantic thresholds (`calibration.ShadowEstimate`), shown in `/metrics` and `gureum usage`.

Two answers to one question differ when their meaning does (e5 cosine of the answers below
`cache.shadow_answer_similarity`) or when they disagree on a number or a negation — the facts a
near miss changes while the wording of its answer stays close."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from gureum.cache.analysis import analyse
from gureum.cache.keys import content_text, normalise_text
from gureum.cache.semantic import SemanticCache


@dataclass(frozen=True, slots=True)
class Comparison:
    different: bool
    similarity: float
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"different": self.different, "similarity": round(self.similarity, 4), "why": self.why}


def answer_text(body: dict[str, Any] | None) -> str | None:
    """The text of a chat completion's first choice, or None when it has none (tool calls)."""
    choices = (body or {}).get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return None
    content = (choices[0].get("message") or {}).get("content")
    return content_text(content) if content is not None else None


async def compare(semantic: SemanticCache, served: str, fresh: str, min_similarity: float) -> Comparison | None:
    """None when the answers cannot be compared now (the embedder is saturated)."""
    if normalise_text(served) == normalise_text(fresh):
        return Comparison(False, 1.0, "same text")
    a, b = await asyncio.to_thread(analyse, served), await asyncio.to_thread(analyse, fresh)
    va, vb = await semantic.embed(served), await semantic.embed(fresh)
    if va is None or vb is None:
        return None
    similarity = _cosine(va, vb)
    if a.numbers != b.numbers:
        return Comparison(True, similarity, "numbers differ")
    if a.negated != b.negated:
        return Comparison(True, similarity, "negation differs")
    if similarity < min_similarity:
        return Comparison(True, similarity, f"cosine {similarity:.3f} < {min_similarity}")
    return Comparison(False, similarity, f"cosine {similarity:.3f} >= {min_similarity}")


def _cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norm = (sum(x * x for x in a) * sum(y * y for y in b)) ** 0.5
    return float(dot / norm) if norm else 0.0


__all__ = ["Comparison", "answer_text", "compare"]
