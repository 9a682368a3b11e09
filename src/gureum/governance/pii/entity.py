"""The one result type every recognizer returns and the engine reports."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Entity:
    """A detected span: `text[start:end]` (Python string indices, end exclusive) is of `type`."""

    start: int
    end: int
    type: str
    score: float
