"""KR_PHONE: mobile (010, 011, 016-019), landline area codes, 070/050x/080, and +82 forms."""

from __future__ import annotations

import re
from collections.abc import Iterator

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers.context import NOT_PII, NUM_END, Document, add_cues, lead

TYPE = "KR_PHONE"

add_cues(TYPE, (
    "전화", "전화번호", "연락처", "연락", "휴대폰", "핸드폰", "휴대전화", "직통", "내선", "팩스", "모바일",
    "phone", "tel", "telephone", "mobile", "cell", "cellphone", "contact", "call", "fax", "whatsapp",
))

_AREA = "1[016789]|2|3[1-3]|4[1-4]|5[1-5]|6[1-4]|70|50[2-8]|80"
_PLUS, _PAREN = lead(r"\+"), lead(r"\(")
_PHONE = re.compile(
    rf"""
    (?:
        (?P<intl>{_PLUS}\ ?82|{lead("0")}082|{lead("8")}2(?=[-.\ ]))[-.\ ]?(?:\(0\)[-.\ ]?|0)?(?P<area_i>{_AREA})
        (?P<sep1>[-.\ ]?)
      | (?P<open>{_PAREN}0)(?P<area_o>{_AREA})\)\ ?
      | {lead("0")}(?P<area_d>{_AREA})(?P<sep1d>[-.\ ]?)
    )
    (?P<mid>\d{{3,4}})
    (?P<sep2>[-.\ ]?)
    \d{{4}}
    """
    + NUM_END,
    re.VERBOSE,
)


class PhoneRecognizer:
    name = "kr_phone"
    types = (TYPE,)

    def find(self, doc: Document) -> Iterator[Entity]:
        for m in doc.find_numbers(_PHONE):
            score = _shape_score(m)
            if score <= 0:
                continue
            cue = doc.cue_before(m.start(), 24)
            if cue == TYPE:
                score += 0.05
            elif cue == NOT_PII:
                score -= 0.1
            if score < 0.6 and cue != TYPE:
                continue
            yield Entity(m.start(), m.end(), TYPE, round(min(score, 0.99), 2))


def _shape_score(m: re.Match[str]) -> float:
    """How phone-like the grouping is; 0 rejects it."""
    area, mid = m["area_i"] or m["area_o"] or m["area_d"], m["mid"]
    mobile = area[0] == "1"
    if area == "10" and len(mid) != 4:
        return 0.0
    sep1, sep2 = m["sep1"] or m["sep1d"] or "", m["sep2"]
    if m["open"] is None and sep1 and sep2 and sep1 != sep2:
        return 0.0
    if m["open"] is None and not sep1 and sep2:
        return 0.0
    if m["intl"]:
        return 0.9
    if not sep1 and not sep2 and m["open"] is None:
        # A bare 10-11 digit run is a phone only when it starts like a mobile number;
        # a bare landline needs a cue (checked by the caller through the 0.6 floor).
        return 0.8 if mobile else 0.5
    return 0.9 if mobile else 0.8
