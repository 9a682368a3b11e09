"""Scoring against a labelled JSONL file (the format of shared/data/pii): exact span match per
type, precision/recall/F1, and how many hard negatives (look-alikes) were flagged."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gureum.governance.pii.engine import detect
from gureum.governance.pii.entity import Entity

Span = tuple[int, int, str]


class LabelledFileError(ValueError):
    """The evaluation file is not in the expected format; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Record:
    id: str
    text: str
    entities: frozenset[Span]
    hard_negatives: tuple[tuple[int, int, str], ...]


@dataclass(slots=True)
class TypeScore:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def as_dict(self) -> dict[str, float | int]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
        }


@dataclass(frozen=True, slots=True)
class Miss:
    """One disagreement with the labels, for `--errors`: what, where, and which record."""

    record_id: str
    kind: str  # "false_positive", "false_negative" or "hard_negative"
    type: str
    start: int
    end: int
    detail: str = ""  # for a hard negative, what it really is ("tracking_number")


@dataclass(slots=True)
class Report:
    records: int = 0
    per_type: dict[str, TypeScore] = field(default_factory=dict)
    hard_negatives: int = 0
    misses: list[Miss] = field(default_factory=list)

    @property
    def hard_negative_fps(self) -> int:
        return sum(m.kind == "hard_negative" for m in self.misses)

    @property
    def micro(self) -> TypeScore:
        return TypeScore(
            sum(s.tp for s in self.per_type.values()),
            sum(s.fp for s in self.per_type.values()),
            sum(s.fn for s in self.per_type.values()),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "types": {t: s.as_dict() for t, s in sorted(self.per_type.items())},
            "micro": self.micro.as_dict(),
            "hard_negatives": {"total": self.hard_negatives, "false_positives": self.hard_negative_fps},
        }


def load(path: Path) -> list[Record]:
    """Read a labelled JSONL file, failing with the line number and the fix on bad input."""
    records = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                records.append(_record(line, n))
    return records


def _record(line: str, n: int) -> Record:
    try:
        raw = json.loads(line)
        text = raw["text"]
        entities = frozenset((int(e["start"]), int(e["end"]), str(e["type"])) for e in raw.get("entities", []))
        negatives = tuple(
            (int(h["start"]), int(h["end"]), str(h.get("kind", ""))) for h in raw.get("hard_negatives", [])
        )
    except json.JSONDecodeError as e:
        raise LabelledFileError(
            f"line {n}: not valid JSON ({e.msg}, column {e.colno}); each line must be one JSON object"
        ) from e
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise LabelledFileError(
            f"line {n}: expected {{\"text\": str, \"entities\": [{{\"start\", \"end\", \"type\"}}], "
            f"\"hard_negatives\": [{{\"start\", \"end\", \"kind\"}}]}} ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(text, str):
        raise LabelledFileError(f"line {n}: \"text\" must be a string")
    return Record(str(raw.get("id", n)), text, entities, negatives)


def evaluate(records: Iterable[Record], detector: Callable[[str], list[Entity]] = detect) -> Report:
    report = Report()
    for record in records:
        report.records += 1
        found = detector(record.text)
        predicted = {(e.start, e.end, e.type) for e in found}
        for span in sorted(predicted | record.entities):
            score = report.per_type.setdefault(span[2], TypeScore())
            if span in predicted and span in record.entities:
                score.tp += 1
            elif span in predicted:
                score.fp += 1
                report.misses.append(Miss(record.id, "false_positive", span[2], span[0], span[1]))
            else:
                score.fn += 1
                report.misses.append(Miss(record.id, "false_negative", span[2], span[0], span[1]))
        for start, end, kind in record.hard_negatives:
            report.hard_negatives += 1
            hit = next((e for e in found if e.start < end and start < e.end), None)
            if hit is not None:
                report.misses.append(Miss(record.id, "hard_negative", hit.type, start, end, kind))
    return report
