"""What surrounds a candidate: cue words, field names (table headers, JSON keys, SQL columns)
and number boundaries.

A digit string means little alone; "계좌 110-215-267674" and "운송장 6617-6031-3721" differ only
in the word before them. Recognizers register the cue words of their category here, and ask
for the *nearest* cue before a candidate, so a closer "주문번호" beats a farther "계좌".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# A number must not be cut out of a longer code: "ORD-2021…", "v10.20.18", "KR3107-77232" and
# the middle of a longer digit run never start or end a candidate. The start check comes right
# after the first character (`lead`) so that the regex engine can skip ahead to candidate
# characters instead of testing lookbehinds at every position (four times faster).
NUM_END = r"(?![0-9A-Za-z_])(?![-.][0-9])(?![-_][0-9A-Za-z])"


def lead(first: str) -> str:
    """A regex for `first` (one character) opening a number that is not glued to a code."""
    return rf"{first}(?<![0-9A-Za-z_].)(?<![0-9][-.].)(?<![A-Za-z][-_].)"


# Words that say "this number is not about a person": order, invoice and tracking numbers,
# product codes, versions, amounts. Shared by every numeric recognizer.
NOT_PII = "not_pii"
_NOT_PII_WORDS = (
    "주문", "주문번호", "발주", "송장", "운송장", "송장번호", "택배번호", "등기번호", "추적번호",
    "품번", "제품번호", "상품번호", "상품코드", "모델명", "일련번호", "시리얼", "버전", "빌드",
    "접수번호", "티켓", "문의번호", "예약번호", "승인번호", "거래번호", "결제번호", "영수증", "인보이스",
    "금액", "합계", "총액", "정가", "가격", "수량", "재고", "택배", "배송", "업데이트", "패치",
    "order", "order no", "order number", "orders", "po", "purchase order", "invoice", "inv",
    "tracking", "tracking number", "waybill", "shipment", "parcel", "sku", "p/n", "part",
    "part number", "product", "model", "serial", "s/n", "isbn", "version", "ver", "build",
    "release", "update", "patch", "ticket", "case", "booking", "reservation", "confirmation", "transaction", "txn",
    "receipt", "amount", "total", "price", "qty", "quantity", "rows", "job", "job_id", "pin",
    "barcode", "바코드", "ean", "upc", "gtin", "timestamp", "epoch", "ts", "millis", "created_at",
    "updated_at", "hash", "checksum", "sha", "md5", "uuid", "request_id", "trace_id", "session",
)

# Any identifier with nine or more digits (phones, RRNs, cards, accounts, BRNs, licences) lies
# inside one of these runs. Prose has few of them, so numeric recognizers search only there.
_DIGIT_RUN = re.compile(r"\d[\d\-. ()]{7,}\d")
_LONG_DIGITS = re.compile(r"\d{5}")

# Cue words by language: English ones are whole words or phrases ("account number"), Korean ones
# may sit inside a longer Hangul run, glued to particles or compounds ("환불계좌로").
_english: dict[str, str] = {}
_korean: dict[str, str] = {}
_longest = {"english": 1, "korean": 2}  # in words and in syllables
# Korean words separated by single spaces form one token, so that "외국인 등록번호" is read as
# "외국인등록번호" and not as the "등록번호" of a business.
_TOKEN = re.compile(r"[가-힣]+(?: [가-힣]+)*|[a-z]+(?:[/'][a-z]+)?")


def add_cues(category: str, words: Iterable[str]) -> None:
    """Register cue words for a category (an entity type or `NOT_PII`). Case-insensitive;
    "_" counts as a space, so "card number" also matches the column `card_number`."""
    for word in words:
        key = word.lower().replace("_", " ")
        if key.isascii():
            tokens = _TOKEN.findall(key)
            _english[" ".join(tokens)] = category
            _longest["english"] = max(_longest["english"], len(tokens))
        else:
            key = key.replace(" ", "")  # matched against space-joined runs, see _TOKEN
            _korean[key] = category
            _longest["korean"] = max(_longest["korean"], len(key))


def categorize(snippet: str, *, last: bool) -> str | None:
    """The category of the last (or first) cue word inside `snippet`. Scanning tokens from
    the chosen end and stopping at the first cue makes this a few dictionary lookups."""
    tokens = _TOKEN.findall(snippet.lower())
    indices = range(len(tokens) - 1, -1, -1) if last else range(len(tokens))
    for i in indices:
        token = tokens[i]
        found = _korean_cue(token.replace(" ", ""), last) if token[0] >= "가" else _english_cue(tokens, i, last)
        if found is not None:
            return found
    return None


def _korean_cue(run: str, last: bool) -> str | None:
    n = len(run)
    for edge in range(n, 0, -1) if last else range(n):
        # Longest first at each edge, so "외국인등록번호" wins over the "등록번호" inside it.
        for size in range(min(_longest["korean"], edge if last else n - edge), 1, -1):
            word = run[edge - size : edge] if last else run[edge : edge + size]
            if word in _korean:
                return _korean[word]
    return None


def _english_cue(tokens: list[str], i: int, last: bool) -> str | None:
    for size in range(_longest["english"], 0, -1):
        lo = i - size + 1 if last else i
        if lo < 0 or lo + size > len(tokens):
            continue
        found = _english.get(" ".join(tokens[lo : lo + size]))
        if found is not None:
            return found
    return None


add_cues(NOT_PII, _NOT_PII_WORDS)

# Structured records name their fields once: a JSON key right before its value, the column list
# of an SQL INSERT. The owning field is the most precise context a value has.
_JSON_KEY = re.compile(r'"((?:[^"\\\n]|\\.){1,64})"\s*:\s*"?$')
_INSERT = re.compile(r"insert\s+into\s+[^\s(]+\s*\(([^()]{1,2000})\)\s*values\s*", re.IGNORECASE)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def field_words(name: str) -> str:
    """`passportNo`, `passport_no`, `passport-no` and `"PASSPORT NO"` all read as `passport no`."""
    return _CAMEL.sub(" ", name.strip().strip('"`[]')).replace("_", " ").replace("-", " ")


def _sql_column(text: str, pos: int) -> str | None:
    """The column of an INSERT's VALUES tuple that holds `pos` (several tuples allowed)."""
    head = None
    for m in _INSERT.finditer(text, max(0, pos - 5000), pos):
        head = m
    if head is None:
        return None
    columns = [c.strip() for c in head.group(1).split(",")]
    depth, index, quote = 0, 0, ""
    for ch in text[head.end():pos]:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth, index = depth + 1, 0 if depth == 0 else index
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 1:
            index += 1
        elif ch == ";" and depth == 0:
            return None  # that statement ended before `pos`
    return columns[index] if depth == 1 and index < len(columns) else None


class Document:
    """The text under analysis plus the lookups recognizers share."""

    def __init__(self, text: str) -> None:
        self.text = text
        # Computed on first use; plain attributes because functools.cached_property takes
        # a lock on every access in Python 3.11, a measurable cost on short texts.
        self._windows: list[tuple[int, int]] | None = None
        self._header_cells: tuple[str, list[str]] | None = None
        self._header_known = False
        self._header_line = 0  # offset of the header row's first character
        self._has_insert: bool | None = None  # asked per value: scanning the text each time is quadratic

    def _digit_windows(self) -> list[tuple[int, int]]:
        if self._windows is not None:
            return self._windows
        # Two characters of slack before ("+82", "(02)") and after (for end lookaheads).
        windows: list[tuple[int, int]] = []
        for m in _DIGIT_RUN.finditer(self.text):
            lo, hi = max(0, m.start() - 2), min(len(self.text), m.end() + 3)
            if windows and lo <= windows[-1][1]:
                windows[-1] = (windows[-1][0], hi)
            else:
                windows.append((lo, hi))
        self._windows = windows
        return windows

    def find_numbers(self, pattern: re.Pattern[str]) -> Iterator[re.Match[str]]:
        """`pattern.finditer` restricted to runs of nine or more digits; the pattern's
        lookbehinds still see the text before each run."""
        for lo, hi in self._digit_windows():
            yield from pattern.finditer(self.text, lo, hi)

    def cue_before(self, start: int, window: int = 40) -> str | None:
        """The category of the nearest cue word before `start`. In a table row the cue is
        searched in the current cell first and then in that column's header; a value of a JSON
        object or an SQL INSERT is read by its own field name before the words around it, so the
        key `orderNo` is not overruled by the `phone` key of the field before."""
        cell = self._table_cell(start)
        if cell is not None:
            return categorize(self.text[cell[0]:start], last=True) or categorize(field_words(cell[1]), last=True)
        name = self.field_name(start)
        if name is not None:
            found = categorize(field_words(name), last=True)
            if found is not None:
                return found
        return categorize(self.text[max(0, start - window):start], last=True)

    def field_name(self, pos: int) -> str | None:
        """The JSON key or SQL column that the value at `pos` belongs to, if any."""
        key = _JSON_KEY.search(self.text, max(0, pos - 80), pos)
        if key is not None:
            return key.group(1)
        if self._has_insert is None:
            self._has_insert = "nsert" in self.text or "NSERT" in self.text
        return _sql_column(self.text, pos) if self._has_insert else None

    def cue_after(self, end: int, window: int = 16) -> str | None:
        return categorize(self.text[end : end + window], last=False)

    def cue_near(self, start: int, end: int, before: int = 40, after: int = 16) -> str | None:
        """The nearest cue before the span, else the nearest one after it."""
        return self.cue_before(start, before) or self.cue_after(end, after)

    def _header(self) -> tuple[str, list[str]] | None:
        """The first line split into cells, if it looks like a CSV/TSV/pipe-table header."""
        if not self._header_known:
            self._header_cells, self._header_known = self._find_header(), True
        return self._header_cells

    def _find_header(self) -> tuple[str, list[str]] | None:
        """The header row: the first line, or one of the next few after a title or an export
        note (a later header must hold no long digit run, so a data row is never taken for it)."""
        lines = self.text.split("\n", 6)[:6]
        for i, (first, second) in enumerate(zip(lines, lines[1:], strict=False)):
            for sep in (",", "\t", "|"):
                cells = first.split(sep)
                # A header is a row of short labels with the same shape as the row below it.
                if len(cells) > 1 and second.count(sep) == len(cells) - 1 and max(map(len, cells)) <= 32:
                    if i and _LONG_DIGITS.search(first):
                        continue
                    self._header_line = sum(len(x) + 1 for x in lines[:i])
                    return sep, cells
        return None

    def _table_cell(self, pos: int) -> tuple[int, str] | None:
        """(start of the cell holding `pos`, its column header) when `pos` is in a table row."""
        header = self._header()
        if header is None:
            return None
        sep, names = header
        line_start = self.text.rfind("\n", 0, pos) + 1
        if line_start <= self._header_line:
            return None
        line_end = self.text.find("\n", pos)
        line = self.text[line_start : line_end if line_end >= 0 else len(self.text)]
        if line.count(sep) != len(names) - 1:
            return None
        column = self.text.count(sep, line_start, pos)
        cell_start = self.text.rfind(sep, line_start, pos) + 1 or line_start
        return cell_start, names[column]
