"""What surrounds a candidate: cue words, table headers and number boundaries.

A digit string means little alone; "계좌 110-215-267674" and "운송장 6617-6031-3721" differ only
in the word before them. Recognizers register the cue words of their category here, and ask
for the *nearest* cue before a candidate, so a closer "주문번호" beats a farther "계좌".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cached_property

# Lookarounds that keep a number from being cut out of a longer code: "ORD-2021…", "v10.20.18",
# "KR3107-77232" and the middle of a longer digit run never start or end a candidate.
NUM_START = r"(?<![0-9A-Za-z_])(?<![0-9][-.])(?<![A-Za-z][-_])"
NUM_END = r"(?![0-9A-Za-z_])(?![-.][0-9])(?![-_][0-9A-Za-z])"

# Words that say "this number is not about a person": order, invoice and tracking numbers,
# product codes, versions, amounts. Shared by every numeric recognizer.
NOT_PII = "not_pii"
_NOT_PII_WORDS = (
    "주문", "주문번호", "발주", "송장", "운송장", "송장번호", "택배번호", "등기번호", "추적번호",
    "품번", "제품번호", "상품번호", "상품코드", "모델명", "일련번호", "시리얼", "버전", "빌드",
    "접수번호", "티켓", "문의번호", "예약번호", "승인번호", "거래번호", "결제번호", "영수증", "인보이스",
    "금액", "합계", "총액", "정가", "가격", "수량", "재고",
    "order", "order no", "order number", "orders", "po", "purchase order", "invoice", "inv",
    "tracking", "tracking number", "waybill", "shipment", "parcel", "sku", "p/n", "part",
    "part number", "product", "model", "serial", "s/n", "isbn", "version", "ver", "build",
    "release", "ticket", "case", "booking", "reservation", "confirmation", "transaction", "txn",
    "receipt", "amount", "total", "price", "qty", "quantity", "rows", "job", "job_id", "pin",
)

_registry: dict[str, str] = {}
_compiled: re.Pattern[str] | None = None


def add_cues(category: str, words: Iterable[str]) -> None:
    """Register cue words for a category (an entity type or `NOT_PII`). Case-insensitive;
    ASCII words match whole words only, Korean words anywhere (they glue to particles)."""
    global _compiled
    for word in words:
        _registry[word.lower()] = category
    _compiled = None


def _pattern() -> re.Pattern[str]:
    global _compiled
    if _compiled is None:
        # Longest first, because an alternation takes the first alternative that matches.
        alternatives = [
            rf"(?<![a-z]){re.escape(w)}(?![a-z])" if w.isascii() else re.escape(w)
            for w in sorted(_registry, key=len, reverse=True)
        ]
        _compiled = re.compile("|".join(alternatives), re.IGNORECASE)
    return _compiled


def categorize(snippet: str, *, last: bool) -> str | None:
    """The category of the last (or first) cue word inside `snippet`."""
    found: str | None = None
    for m in _pattern().finditer(snippet):
        found = _registry[m.group().lower()]
        if not last:
            break
    return found


add_cues(NOT_PII, _NOT_PII_WORDS)


class Document:
    """The text under analysis plus the lookups recognizers share."""

    def __init__(self, text: str) -> None:
        self.text = text

    def cue_before(self, start: int, window: int = 40) -> str | None:
        """The category of the nearest cue word before `start`. In a table row the cue is
        searched in the current cell first and then in that column's header."""
        cell = self._table_cell(start)
        lo = max(0, start - window) if cell is None else cell[0]
        found = categorize(self.text[lo:start], last=True)
        if found is None and cell is not None:
            found = categorize(cell[1], last=True)
        return found

    def cue_after(self, end: int, window: int = 16) -> str | None:
        return categorize(self.text[end : end + window], last=False)

    def cue_near(self, start: int, end: int, before: int = 40, after: int = 16) -> str | None:
        """The nearest cue before the span, else the nearest one after it."""
        return self.cue_before(start, before) or self.cue_after(end, after)

    @cached_property
    def _header(self) -> tuple[str, list[str]] | None:
        """The first line split into cells, if it looks like a CSV/TSV/pipe-table header."""
        lines = self.text.split("\n", 2)
        if len(lines) < 2:
            return None
        first, second = lines[0], lines[1]
        for sep in (",", "\t", "|"):
            cells = first.split(sep)
            # A header is a row of short labels with the same shape as the row below it.
            if len(cells) > 1 and second.count(sep) == len(cells) - 1 and max(map(len, cells)) <= 32:
                return sep, cells
        return None

    def _table_cell(self, pos: int) -> tuple[int, str] | None:
        """(start of the cell holding `pos`, its column header) when `pos` is in a table row."""
        header = self._header
        if header is None:
            return None
        sep, names = header
        line_start = self.text.rfind("\n", 0, pos) + 1
        if line_start == 0:
            return None
        line_end = self.text.find("\n", pos)
        line = self.text[line_start : line_end if line_end >= 0 else len(self.text)]
        if line.count(sep) != len(names) - 1:
            return None
        column = self.text.count(sep, line_start, pos)
        cell_start = self.text.rfind(sep, line_start, pos) + 1 or line_start
        return cell_start, names[column]
