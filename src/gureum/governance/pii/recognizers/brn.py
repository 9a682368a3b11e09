"""KR_BRN (사업자등록번호): NNN-NN-NNNNN whose last digit is the weighted checksum.

An invalid checksum is never a BRN. With hyphens the 3-2-5 shape plus the checksum is enough;
a bare 10-digit run also needs a business-number cue, since one in ten random runs passes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers.context import NOT_PII, NUM_END, Document, add_cues, lead
from gureum.governance.pii.validators import brn_checksum_ok

TYPE = "KR_BRN"

add_cues(TYPE, (
    "사업자", "사업자등록번호", "사업자번호", "사업자등록", "등록번호", "세금계산서", "brn",
    "business registration", "business registration number", "business registration no",
    "business number", "business no", "business id", "tax id", "tax registration", "vat",
    "biz reg no", "biz reg number", "business reg no", "biz no", "biz number",
))

_BRN = re.compile(lead(r"\d") + r"(?:\d{2}-\d{2}-\d{5}|(?P<bare>\d{9}))" + NUM_END)


class BrnRecognizer:
    name = "kr_brn"
    types = (TYPE,)

    def find(self, doc: Document) -> Iterator[Entity]:
        for m in doc.find_numbers(_BRN):
            if not brn_checksum_ok(m.group().replace("-", "")):
                continue
            cue = doc.cue_near(m.start(), m.end(), 40, 12)
            if cue == TYPE:
                score = 0.95
            elif m["bare"] or cue == NOT_PII:
                continue
            else:
                score = 0.75
            yield Entity(m.start(), m.end(), TYPE, score)
