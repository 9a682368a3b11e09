"""KR_BANK_ACCOUNT: 10-14 digits in the groupings banks print, next to a bank or account cue.

Account numbers have no public checksum and share their shape with tracking numbers and
product codes, so the nearest cue decides: a bank name or "계좌" before it (or a bank name right
after it, "110-215-267674 (신한은행)"), and no closer order/tracking word.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from gureum.governance.pii.entity import Entity
from gureum.governance.pii.recognizers.context import NUM_END, Document, add_cues, lead

TYPE = "KR_BANK_ACCOUNT"

add_cues(TYPE, (
    "계좌", "계좌번호", "입금", "입금계좌", "이체", "송금", "예금주", "환불계좌", "은행", "뱅크", "금고",
    "농협", "수협", "신협", "우체국", "국민", "신한", "새마을", "카카오뱅크", "토스뱅크", "케이뱅크",
    "우리은행", "하나은행", "기업은행", "국민은행", "신한은행", "부산은행", "대구은행", "경남은행",
    "광주은행", "전북은행", "제주은행", "산업은행", "씨티은행", "제일은행", "저축은행", "증권",
    "kb", "nh", "ibk", "keb", "kdb", "sc", "bnk", "dgb", "kookmin", "shinhan", "woori", "hana",
    "nonghyup", "kakaobank", "bank", "account", "account no",
    "account number", "acct", "a/c", "deposit", "wire", "remittance", "iban",
))

_ACCOUNT = re.compile(lead(r"\d") + r"(?:\d{1,5}(?:-\d{1,7}){1,3}|\d{9,13})" + NUM_END)


class BankAccountRecognizer:
    name = "kr_bank_account"
    types = (TYPE,)

    def find(self, doc: Document) -> Iterator[Entity]:
        for m in doc.find_numbers(_ACCOUNT):
            n_digits = sum(c.isdigit() for c in m.group())
            if not 10 <= n_digits <= 14:
                continue
            if doc.cue_before(m.start(), 40) == TYPE or doc.cue_after(m.end(), 10) == TYPE:
                yield Entity(m.start(), m.end(), TYPE, 0.85 if "-" in m.group() else 0.8)
