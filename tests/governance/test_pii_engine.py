"""The analyzer: overlap resolution, type filters, offsets, and the registration hook."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import pairwise

from gureum.governance.pii import TYPES, Analyzer, Document, Entity, Registry, detect, register, resolve_overlaps
from gureum.governance.pii.recognizers import REGISTRY, add_cues


def test_offsets_are_python_string_indices() -> None:
    text = "😀 한글 010-1234-5678"
    (phone,) = detect(text)
    assert text[phone.start : phone.end] == "010-1234-5678"
    assert (phone.start, phone.end) == (5, 18)


def test_results_are_sorted_and_non_overlapping() -> None:
    text = "김유진님 010-5079-3440, eunji.jung@gmail.com, 카드 4111-1111-1111-1111"
    found = detect(text)
    assert [e.type for e in found] == ["PERSON", "KR_PHONE", "EMAIL", "CREDIT_CARD"]
    assert all(a.end <= b.start for a, b in pairwise(found))


def test_overlap_prefers_higher_score_then_longer_span() -> None:
    kept = resolve_overlaps([
        Entity(0, 10, "A", 0.6),
        Entity(2, 5, "B", 0.9),
        Entity(4, 12, "C", 0.9),
        Entity(20, 25, "D", 0.5),
    ])
    assert [e.type for e in kept] == ["C", "D"]


def test_type_filter() -> None:
    text = "김유진님 010-5079-3440"
    assert [e.type for e in detect(text, types={"KR_PHONE"})] == ["KR_PHONE"]
    assert detect(text, types=set()) == []


def test_builtin_types_are_the_contract() -> None:
    assert REGISTRY.types() == frozenset(TYPES)


class EmployeeIdRecognizer:
    """An extension recognizer, registered exactly like the built-ins."""

    name = "employee_id"
    types = ("EMPLOYEE_ID",)

    def find(self, doc: Document) -> Iterator[Entity]:
        start = doc.text.find("EMP-")
        if start >= 0 and doc.cue_before(start) == "EMPLOYEE_ID":
            yield Entity(start, start + 10, "EMPLOYEE_ID", 0.9)


def test_extensions_register_like_builtins() -> None:
    add_cues("EMPLOYEE_ID", ["사번", "employee id"])
    register(EmployeeIdRecognizer())
    try:
        assert [e.type for e in detect("사번 EMP-123456 확인")] == ["EMPLOYEE_ID"]
    finally:
        REGISTRY.unregister("employee_id")
    assert detect("사번 EMP-123456 확인") == []


def test_an_analyzer_over_its_own_registry() -> None:
    registry = Registry()
    registry.register(EmployeeIdRecognizer())
    add_cues("EMPLOYEE_ID", ["사번"])
    assert [e.type for e in Analyzer(registry).detect("사번 EMP-123456, 010-1234-5678")] == ["EMPLOYEE_ID"]


def test_min_score_drops_weak_candidates() -> None:
    text = "on file: 4111111111111111"  # a bare card number without a cue scores low
    assert detect(text)
    assert Analyzer(min_score=0.9).detect(text) == []
