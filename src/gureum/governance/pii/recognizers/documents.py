"""KR_PASSPORT (여권번호) and KR_DRIVER_LICENSE (운전면허번호).

A passport number (one letter and eight digits, or since 2021 letter-3 digits-letter-4 digits)
looks like any product or booking code, so it needs a cue nearby or a column header. A licence
number's 2-2-6-2 grouping is distinctive; its first two digits are a region code.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers.context import NOT_PII, NUM_END, Document, add_cues, lead
from gureum.governance.pii.validators import license_region_ok

PASSPORT = "KR_PASSPORT"
LICENSE = "KR_DRIVER_LICENSE"

add_cues(PASSPORT, (
    "여권", "여권번호", "passport", "passport no", "passport number", "passports", "패스포트",
    "travel document", "pp no",
))
add_cues(LICENSE, (
    "운전면허", "운전면허번호", "면허번호", "면허", "운전면허증", "driver's license", "driver license",
    "drivers license", "driving licence", "driving license", "license", "licence", "licenses",
    "license no", "license number", "dl no",
))

_PASSPORT = re.compile(r"[A-Z](?<![0-9A-Za-z_-].)(?:\d{8}|\d{3}[A-Z]\d{4})(?![0-9A-Za-z_])(?!-[0-9A-Za-z])")
# Letters issued on Korean passports (M multiple, S single, R residence, O official, D diplomatic,
# G/T others); an unknown letter under a passport cue still counts, slightly lower.
_PASSPORT_LETTERS = frozenset("MSRODGT")

_REGIONS = "서울|부산|경기|강원|충북|충남|전북|전남|경북|경남|제주|대구|인천|광주|대전|울산"
_LICENSE = re.compile(
    lead(r"\d")
    + r"(?:\d(?P<s>[- ])\d{2}(?P=s)\d{6}(?P=s)\d{2}|(?P<old>\d-\d{6}-\d{2})|(?P<bare>\d{11}))"
    + NUM_END
)
# The pre-2011 form carries its region's name: "서울 91-123456-78".
_LICENSE_OLD = re.compile(rf"(?:{_REGIONS})\s?\d{{2}}-\d{{6}}-\d{{2}}" + NUM_END)


class PassportRecognizer:
    name = "kr_passport"
    types = (PASSPORT,)

    def find(self, doc: Document) -> Iterator[Entity]:
        for m in _PASSPORT.finditer(doc.text):
            if doc.cue_near(m.start(), m.end(), 40, 12) != PASSPORT:
                continue
            score = 0.93 if m.group()[0] in _PASSPORT_LETTERS else 0.8
            yield Entity(m.start(), m.end(), PASSPORT, score)


class DriverLicenseRecognizer:
    name = "kr_driver_license"
    types = (LICENSE,)

    def find(self, doc: Document) -> Iterator[Entity]:
        for m in _LICENSE_OLD.finditer(doc.text):
            yield Entity(m.start(), m.end(), LICENSE, 0.97)
        for m in doc.find_numbers(_LICENSE):
            cue = doc.cue_near(m.start(), m.end(), 40, 12)
            if m["old"]:
                # Without its region name the pre-2011 form needs a cue.
                if cue != LICENSE:
                    continue
                score = 0.85
            else:
                digits = re.sub(r"\D", "", m.group())
                region_ok = license_region_ok(digits)
                if m["bare"] and not (cue == LICENSE and region_ok):
                    continue
                score = 0.85 if region_ok else 0.45
            if cue == LICENSE:
                score += 0.1
            elif cue == NOT_PII:
                score -= 0.4
            if score >= 0.5:
                yield Entity(m.start(), m.end(), LICENSE, round(min(score, 0.99), 2))
