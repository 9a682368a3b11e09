"""KR_RRN (주민등록번호) and KR_FOREIGNER_RN (외국인등록번호): YYMMDD-GNNNNNN.

The birth date must exist (for the century the 7th digit encodes). The check digit is only
evidence: numbers issued since October 2020 end in a random digit, so a failed checksum
lowers nothing. A bare 13-digit run needs a cue or a valid checksum, since order numbers and
timestamps also come in 13 digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers.context import NOT_PII, NUM_END, Document, add_cues, lead
from gureum.governance.pii.validators import is_foreigner_number, rrn_birth_date, rrn_checksum_ok

RRN = "KR_RRN"
FOREIGNER_RN = "KR_FOREIGNER_RN"

add_cues(RRN, (
    "주민등록번호", "주민번호", "주민등록", "주민", "실명번호", "rrn", "resident registration",
    "resident registration number", "resident number", "registration no", "registration number",
    "reg no", "jumin", "ssn", "national id", "id number",
))
add_cues(FOREIGNER_RN, (
    "외국인등록번호", "외국인등록", "외국인번호", "외국인", "거소신고번호", "arc", "arc no",
    "alien registration", "foreign resident", "foreigner", "residence card", "resident card",
    "registration card", "alien card", "arc card", "외국인등록증", "거소증",
))

_RRN = re.compile("(?P<front>" + lead(r"\d") + r"\d{5})(?P<sep>-?)(?P<back>[1-8]\d{6})" + NUM_END)


class NationalIdRecognizer:
    name = "kr_national_id"
    types = (RRN, FOREIGNER_RN)

    def find(self, doc: Document) -> Iterator[Entity]:
        for m in doc.find_numbers(_RRN):
            digits = m["front"] + m["back"]
            born = rrn_birth_date(digits)
            if born is None:
                continue
            cue = doc.cue_near(m.start(), m.end(), 40, 12)
            cued = cue in (RRN, FOREIGNER_RN)
            checksum = rrn_checksum_ok(digits)
            if m["sep"]:
                score = 0.85 + 0.08 * checksum + 0.05 * cued - 0.3 * (cue == NOT_PII)
            elif cued:
                score = 0.85 + 0.08 * checksum
            elif checksum and cue != NOT_PII:
                score = 0.6
            else:
                continue
            if born > date.today():
                # Not impossible by the labelling rule (a real month and day), but nobody
                # alive was born then: EAN-13 barcodes (880…) and epoch-millisecond stamps.
                score -= 0.3
            if score < 0.5:
                continue
            kind = FOREIGNER_RN if is_foreigner_number(digits) else RRN
            yield Entity(m.start(), m.end(), kind, round(min(score, 0.99), 2))
