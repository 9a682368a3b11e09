"""Chunking: cut a cleaned document into retrievable pieces that keep what a citation needs.

Policy:
- Never mix two sections: every heading closes the chunk in progress. Each chunk carries its
  heading path (heading texts from the top level down); headings themselves are not repeated in
  chunk text — the index decides how to use the path. A heading with no content of its own and
  no subsections ("제5조(삭제)") still becomes a chunk, so it can be found.
- Blocks are packed in order up to `max_tokens`. A block that fits is never split, so a table or
  list that fits stays whole (and starts a new chunk if it does not fit in the current one).
- A longer table or list is split by rows / items (see the block text conventions in
  `parsers/__init__.py`), code by lines, a paragraph at sentence boundaries — kiwipiepy for
  Korean, a punctuation rule otherwise, chosen by the share of Hangul — and anything still too
  long at word, then character, boundaries.
- When a paragraph is split, up to `overlap` tokens of its trailing sentences are carried into
  the next chunk, so a sentence that needs its predecessor still has it.
- Offsets: `chunk.text == document_text(doc)[chunk.start:chunk.end]`, the blocks joined by a blank
  line; `page` is the page of the chunk's first block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from gureum.knowledge.documents import Block, BlockKind, ChunkDraft, ParsedDocument
from gureum.korean import analyser

__all__ = ["chunk", "document_text"]

TokenCount = Callable[[str], int]

_SEPARATOR = "\n\n"
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_KOREAN_SHARE = 0.3
# The end of a sentence outside Korean: terminal punctuation, closing quotes/brackets, a space.
_SENTENCE_END = re.compile(r"[.!?。！？…]+[\"'”’)\]]*\s+")
_WORD = re.compile(r"\S+")

def document_text(doc: ParsedDocument | Sequence[Block]) -> str:
    """The text chunk offsets index into: block texts joined by a blank line."""
    blocks = doc.blocks if isinstance(doc, ParsedDocument) else doc
    return _SEPARATOR.join(b.text for b in blocks)


@dataclass(slots=True)
class _Piece:
    start: int
    end: int
    page: int | None
    block: int  # index of the block it came from
    sentence: bool  # part of a split paragraph: may be carried over as overlap


def chunk(
    doc: ParsedDocument, *, max_tokens: int = 256, overlap: int = 32, token_count: TokenCount
) -> list[ChunkDraft]:
    if max_tokens < 1 or not 0 <= overlap < max_tokens:
        raise ValueError("need max_tokens >= 1 and 0 <= overlap < max_tokens")
    text = document_text(doc)
    cutter = _Cutter(text, max_tokens, overlap, token_count)
    chunks: list[ChunkDraft] = []
    path: list[tuple[int, str]] = []
    pieces: list[_Piece] = []
    # The latest heading while no content has followed it: (level, its pieces as if a paragraph).
    empty_heading: tuple[int, list[_Piece]] | None = None

    def emit(section: list[_Piece]) -> None:
        heading_path = [h for _, h in path]
        for start, end, page in cutter.pack(section):
            body = text[start:end]
            chunks.append(ChunkDraft(len(chunks), body, heading_path, page, start, end, token_count(body)))

    pos = 0
    for index, block in enumerate(doc.blocks):
        start, end = pos, pos + len(block.text)
        pos = end + len(_SEPARATOR)
        if not block.text.strip():  # cleaning drops these; an uncleaned document may still have them
            continue
        if block.kind is not BlockKind.HEADING:
            pieces.extend(cutter.pieces(block, index, start, end))
            empty_heading = None
            continue
        level = max(block.level, 1)
        emit(pieces)
        pieces = []
        if empty_heading is not None and level <= empty_heading[0]:
            emit(empty_heading[1])  # a leaf heading without content: the heading is the content
        while path and path[-1][0] >= level:
            path.pop()
        path.append((level, block.text))
        as_paragraph = Block(BlockKind.PARAGRAPH, block.text, page=block.page)
        empty_heading = (level, cutter.pieces(as_paragraph, index, start, end))
    emit(pieces)
    if empty_heading is not None:
        emit(empty_heading[1])
    return chunks


class _Cutter:
    """Splits blocks into pieces no longer than max_tokens, and packs pieces into chunk spans."""

    def __init__(self, text: str, max_tokens: int, overlap: int, count: TokenCount) -> None:
        self.text, self.max, self.overlap, self.count = text, max_tokens, overlap, count

    def fits(self, start: int, end: int, limit: int | None = None) -> bool:
        return self.count(self.text[start:end]) <= (self.max if limit is None else limit)

    def pieces(self, block: Block, index: int, start: int, end: int) -> list[_Piece]:
        if self.fits(start, end):
            return [_Piece(start, end, block.page, index, False)]
        if block.kind is BlockKind.PARAGRAPH:
            return [_Piece(s, e, block.page, index, True) for s, e in self._sentences(start, end)]
        spans = []
        for s, e in self._units(block.kind, start, end):
            spans.extend([(s, e)] if self.fits(s, e) else self._sentences(s, e))
        return [_Piece(s, e, block.page, index, False) for s, e in spans]

    def pack(self, pieces: list[_Piece]) -> list[tuple[int, int, int | None]]:
        """Greedy packing into (start, end, page) spans, with sentence overlap inside a paragraph."""
        spans: list[tuple[int, int, int | None]] = []
        current: list[_Piece] = []
        for piece in pieces:
            if current and not self.fits(current[0].start, piece.end):
                spans.append((current[0].start, current[-1].end, current[0].page))
                current = self._carried(current, piece)
                while current and not self.fits(current[0].start, piece.end):
                    current.pop(0)
            current.append(piece)
        if current:
            spans.append((current[0].start, current[-1].end, current[0].page))
        return spans

    def _carried(self, closed: list[_Piece], nxt: _Piece) -> list[_Piece]:
        """Trailing sentences of `closed` from the paragraph `nxt` continues, within `overlap` tokens."""
        carried: list[_Piece] = []
        for piece in reversed(closed):
            if not (piece.sentence and nxt.sentence and piece.block == nxt.block):
                break
            if not self.fits(piece.start, closed[-1].end, self.overlap):
                break
            carried.insert(0, piece)
        return carried

    def _units(self, kind: BlockKind, start: int, end: int) -> list[tuple[int, int]]:
        """Rows of a table, items of a list (with their nested lines), lines of code."""
        body = self.text[start:end]
        if kind is BlockKind.TABLE and _SEPARATOR in body:
            bounds = [m.end() for m in re.finditer(r"\n\n+", body)]
        elif kind is BlockKind.LIST:
            bounds = [m.end() for m in re.finditer(r"\n(?=\S)", body)]  # an indented line stays with its item
        else:
            bounds = [m.end() for m in re.finditer(r"\n", body)]
        return _spans(body, [0, *bounds], start)

    def _sentences(self, start: int, end: int) -> list[tuple[int, int]]:
        body = self.text[start:end]
        if _is_korean(body):
            # Top-level sentences are all we cut at; skipping sub-sentences (quotes) halves the time.
            starts = [s.start for s in analyser().split_into_sents(body, return_sub_sents=False)]
        else:
            starts = [m.end() for m in _SENTENCE_END.finditer(body)]
        result = []
        for s, e in _spans(body, [0, *starts], start):
            result.extend([(s, e)] if self.fits(s, e) else self._words(s, e))
        return result

    def _words(self, start: int, end: int) -> list[tuple[int, int]]:
        """Greedy word packing for a sentence longer than max_tokens; characters for a long word."""
        spans: list[tuple[int, int]] = []
        current: tuple[int, int] | None = None
        for m in _WORD.finditer(self.text, start, end):
            s, e = m.span()
            if current is not None and self.fits(current[0], e):
                current = (current[0], e)
                continue
            if current is not None:
                spans.append(current)
            current = None
            if self.fits(s, e):
                current = (s, e)
            else:
                spans.extend(self._characters(s, e))
        if current is not None:
            spans.append(current)
        return spans

    def _characters(self, start: int, end: int) -> list[tuple[int, int]]:
        spans = []
        while start < end:
            lo, hi = start + 1, end  # binary search for the longest prefix that fits
            while lo < hi:
                mid = (lo + hi + 1) // 2
                lo, hi = (mid, hi) if self.fits(start, mid) else (lo, mid - 1)
            spans.append((start, lo))
            start = lo
        return spans


def _spans(body: str, starts: list[int], offset: int) -> list[tuple[int, int]]:
    """Contiguous spans from start positions, trimmed of surrounding whitespace, so that nothing
    between two pieces is lost whatever the splitter skipped."""
    bounds = sorted(set(starts)) + [len(body)]
    spans = []
    for s, e in pairwise(bounds):
        segment = body[s:e]
        if segment.strip():
            lead = len(segment) - len(segment.lstrip())
            spans.append((offset + s + lead, offset + s + len(segment.rstrip())))
    return spans


def _is_korean(text: str) -> bool:
    letters = sum(1 for ch in text if ch.isalpha())
    return letters > 0 and len(_HANGUL.findall(text)) / letters >= _KOREAN_SHARE
