"""Cleaning: tidy parsed blocks before chunking, so that what is embedded, searched and cited is
the text a reader sees — not extraction noise.

Rules, in order:
1. Unicode NFC (decomposed Hangul jamo from macOS file systems or some PDFs become syllables, so
   "규정" matches "규정" whatever its byte form).
2. Whitespace: CRLF/CR → LF; NBSP, ideographic and other Unicode spaces → " "; zero-width
   characters, soft hyphens and control characters removed; runs of spaces collapsed (code keeps
   its indentation, lists their nesting).
3. Boilerplate lines in paragraphs and headings: page numbers ("- 3 -", "Page 3 of 10", "3 / 10",
   "3쪽") are dropped; copyright notices and running headers/footers (a short line repeated on
   three or more pages) are kept once, at their first occurrence.
4. A paragraph's line breaks (hard wraps of the source) are joined with spaces.
5. Empty blocks are dropped, and so is a paragraph that repeats an earlier one exactly — unless
   it is short ("해당 없음.") and so means something different in each section.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

from gureum.knowledge.documents import Block, BlockKind

__all__ = ["clean"]

_MIN_DEDUP_CHARS = 20
_RUNNING_LINE_MAX_CHARS = 80
_RUNNING_LINE_MIN_PAGES = 3

_SPACES = re.compile(r"[\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_INVISIBLE = re.compile(r"[\u200b-\u200d\u2060\ufeff\u00ad\x00-\x08\x0b-\x1f\x7f]")
_RUNS = re.compile(r"[ \t]{2,}")
_PAGE_NUMBER = re.compile(
    r"""^(?:
        [-–—]\s*\d{1,4}\s*[-–—]                                   # - 3 -
      | (?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?          # Page 3, Page 3 of 10
      | \d{1,4}\s*/\s*\d{1,4}                                     # 3 / 10
      | [-–—]?\s*\d{1,4}\s*(?:쪽|페이지|면)\s*[-–—]?                # 3쪽, - 3 페이지 -
      | (?:페이지|쪽)\s*\d{1,4}(?:\s*/\s*\d{1,4})?                 # 페이지 3/10
    )$""",
    re.IGNORECASE | re.VERBOSE,
)
_COPYRIGHT = re.compile(r"^(?:copyright\b|ⓒ|©|\(c\)\s|all rights reserved|저작권)", re.IGNORECASE)


def clean(blocks: Iterable[Block]) -> list[Block]:
    normalized = [Block(b.kind, _normalize(b.text, b.kind), b.level, b.page) for b in blocks]
    once = _repeated_boilerplate(normalized)
    seen_lines: set[str] = set()
    seen_paragraphs: set[str] = set()
    out: list[Block] = []
    for block in normalized:
        lines = block.text.split("\n")
        if block.kind in (BlockKind.PARAGRAPH, BlockKind.HEADING):
            kept = []
            for line in lines:
                if _PAGE_NUMBER.match(line) or (line in once and line in seen_lines):
                    continue
                seen_lines.add(line)
                kept.append(line)
            text = " ".join(line for line in kept if line)
        else:
            text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
        if not text.strip():
            continue
        if block.kind is BlockKind.PARAGRAPH and len(text) >= _MIN_DEDUP_CHARS:
            if text in seen_paragraphs:
                continue
            seen_paragraphs.add(text)
        out.append(Block(block.kind, text, block.level, block.page))
    return out


def _normalize(text: str, kind: BlockKind) -> str:
    text = unicodedata.normalize("NFC", text).replace("\r\n", "\n").replace("\r", "\n")
    text = _INVISIBLE.sub("", _SPACES.sub(" ", text))
    if kind is BlockKind.CODE:
        return "\n".join(line.rstrip() for line in text.split("\n"))
    lines = []
    for line in text.replace("\t", " ").split("\n"):
        body = _RUNS.sub(" ", line.strip())
        # Lists keep the indentation that shows nesting; elsewhere leading space is layout noise.
        indent = line[: len(line) - len(line.lstrip())] if kind is BlockKind.LIST and body else ""
        lines.append(indent + body)
    return "\n".join(lines)


def _repeated_boilerplate(blocks: list[Block]) -> set[str]:
    """Lines to keep only once: copyright notices seen more than once, and short lines that recur
    on several pages (running headers and footers)."""
    pages: dict[str, set[int]] = defaultdict(set)
    counts: dict[str, int] = defaultdict(int)
    for block in blocks:
        if block.kind not in (BlockKind.PARAGRAPH, BlockKind.HEADING):
            continue
        for line in block.text.split("\n"):
            if line:
                counts[line] += 1
                if block.page is not None and len(line) <= _RUNNING_LINE_MAX_CHARS:
                    pages[line].add(block.page)
    copyright_lines = {line for line, n in counts.items() if n > 1 and _COPYRIGHT.match(line)}
    running = {line for line, on in pages.items() if len(on) >= _RUNNING_LINE_MIN_PAGES}
    return copyright_lines | running
