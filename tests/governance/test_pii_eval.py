"""Acceptance on the public sample, read in place: F1 >= 0.97 for every structured type and
no hard-negative false positives."""

from __future__ import annotations

from pathlib import Path

import pytest

from gureum.governance.pii.evaluate import Report, evaluate, load
from tests.conftest import SHARED

SAMPLE = SHARED / "data" / "pii" / "pii_public.jsonl"
STRUCTURED = (
    "KR_RRN", "KR_FOREIGNER_RN", "KR_PHONE", "EMAIL", "CREDIT_CARD", "KR_BANK_ACCOUNT",
    "KR_PASSPORT", "KR_DRIVER_LICENSE", "KR_BRN", "IP_ADDRESS",
)


@pytest.fixture(scope="module")
def report() -> Report:
    if not SAMPLE.is_file():
        pytest.skip(f"{SAMPLE} is not on this machine")
    return evaluate(load(SAMPLE))


@pytest.mark.parametrize("type_", STRUCTURED)
def test_structured_type_f1(report: Report, type_: str) -> None:
    score = report.per_type[type_]
    assert score.f1 >= 0.97, (type_, score)


def test_no_hard_negative_false_positives(report: Report) -> None:
    assert report.hard_negatives > 0
    assert report.hard_negative_fps == 0, [m for m in report.misses if m.kind == "hard_negative"]


def test_person_is_reported_too(report: Report) -> None:
    assert report.per_type["PERSON"].f1 >= 0.9
