"""The recognizer interface and the registry built-ins and extensions both register into."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers.context import Document


class Recognizer(Protocol):
    """Finds entities of `types` in a document. It may return overlapping or low-score
    candidates: the engine applies the score threshold and resolves overlaps."""

    @property
    def name(self) -> str: ...

    @property
    def types(self) -> tuple[str, ...]: ...

    def find(self, doc: Document) -> Iterable[Entity]: ...


class Registry:
    def __init__(self) -> None:
        self._by_name: dict[str, Recognizer] = {}

    def register(self, recognizer: Recognizer, *, replace: bool = False) -> Recognizer:
        if recognizer.name in self._by_name and not replace:
            raise ValueError(f"a PII recognizer named {recognizer.name!r} is already registered; pass replace=True")
        self._by_name[recognizer.name] = recognizer
        return recognizer

    def unregister(self, name: str) -> None:
        self._by_name.pop(name, None)

    def types(self) -> frozenset[str]:
        return frozenset(t for r in self._by_name.values() for t in r.types)

    def __iter__(self) -> Iterator[Recognizer]:
        # A snapshot, so registering during a detect call cannot break the iteration.
        return iter(list(self._by_name.values()))
