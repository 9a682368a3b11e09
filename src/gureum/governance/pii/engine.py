"""The analyzer: run every registered recognizer, drop weak candidates, resolve overlaps."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable

from gureum.governance.pii import names
from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers import REGISTRY, Document, Registry

DEFAULT_MIN_SCORE = 0.5


class Analyzer:
    def __init__(self, registry: Registry = REGISTRY, *, min_score: float = DEFAULT_MIN_SCORE) -> None:
        self.registry = registry
        self.min_score = min_score

    def detect(self, text: str, *, types: Collection[str] | None = None) -> list[Entity]:
        """Entities in `text`, non-overlapping and ordered by position."""
        doc = Document(text)
        candidates: list[Entity] = []
        for recognizer in self.registry:
            if types is not None and not set(recognizer.types) & set(types):
                continue
            candidates.extend(
                e for e in recognizer.find(doc)
                if e.score >= self.min_score and (types is None or e.type in types)
            )
        return resolve_overlaps(candidates)


def resolve_overlaps(candidates: Iterable[Entity]) -> list[Entity]:
    """Keep the best of overlapping spans: higher score first, then the longer span (an email
    beats the name inside it, a card number beats the account-shaped digits inside it)."""
    starts: list[int] = []
    kept: list[Entity] = []
    for e in sorted(candidates, key=lambda e: (-e.score, e.start - e.end, e.start)):
        i = bisect_left(starts, e.start)
        if i > 0 and kept[i - 1].end > e.start:
            continue
        if i < len(kept) and kept[i].start < e.end:
            continue
        starts.insert(i, e.start)
        kept.insert(i, e)
    return kept


_default = Analyzer()


def detect(text: str, *, types: Collection[str] | None = None) -> list[Entity]:
    """Detect PII in `text` with the default registry and score threshold."""
    return _default.detect(text, types=types)


def warm_up() -> None:
    """Load the Korean morphological analyser (1-5 s) at start-up rather than in a request."""
    names.warm_up()
