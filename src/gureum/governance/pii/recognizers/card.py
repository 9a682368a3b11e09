"""CREDIT_CARD: 13-19 digits that pass the Luhn check.

Grouped as cards are printed (4-4-4-4, 4-6-5 Amex, 4-6-4 Diners) Luhn is enough; an unknown
issuer prefix only lowers the score, as test and private-label cards exist. A bare digit run
also needs a known issuer prefix or a card cue, because ids and timestamps pass Luhn one
time in ten.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers.context import NOT_PII, NUM_END, Document, add_cues, lead
from gureum.governance.pii.validators import card_network_known, luhn_ok

TYPE = "CREDIT_CARD"

add_cues(TYPE, (
    "카드", "카드번호", "신용카드", "체크카드", "결제카드", "법인카드", "card", "cards", "card number",
    "card no", "credit card", "debit card", "cc", "visa", "mastercard", "amex", "jcb", "unionpay",
    "diners", "discover", "pan",
))

_CARD = re.compile(
    lead(r"\d")
    + r"(?:\d{3}(?P<s>[- ])\d{4}(?P=s)\d{4}(?P=s)\d{4}(?:(?P=s)\d{3})?"
    + r"|\d{3}(?P<a>[- ])\d{6}(?P=a)\d{4,5}"
    + r"|(?P<bare>\d{12,18}))"
    + NUM_END
)


class CardRecognizer:
    name = "credit_card"
    types = (TYPE,)

    def find(self, doc: Document) -> Iterator[Entity]:
        for m in doc.find_numbers(_CARD):
            digits = re.sub(r"\D", "", m.group())
            if not luhn_ok(digits):
                continue
            known = card_network_known(digits)
            cue = doc.cue_near(m.start(), m.end(), 40, 12)
            if cue == NOT_PII:
                continue
            if m["bare"]:
                if cue == TYPE and (known or len(digits) == 16):
                    # An unknown issuer in another length is more likely an RRN or an id.
                    score = 0.9 if known else 0.7
                elif known:
                    score = 0.55
                else:
                    continue
            else:
                score = (0.85 if known else 0.65) + 0.1 * (cue == TYPE)
            yield Entity(m.start(), m.end(), TYPE, round(score, 2))
