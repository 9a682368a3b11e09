"""Plain text (.txt). Korean legacy files are often CP949/EUC-KR, so decoding tries UTF-8 (with
or without a BOM), UTF-16 with a BOM, then CP949 (a superset of EUC-KR). Paragraphs are separated
by blank lines; Korean statute-style headings (제1장 총칙, 제3조(목적), 부칙) on their own line
become headings, so a 규정 kept as plain text still gets its sections."""

from __future__ import annotations

import codecs
import re

from gureum.knowledge.documents import Block, BlockKind, IngestError, ParsedDocument, SourceDocument
from gureum.knowledge.parsers.registry import register

__all__ = ["decode_text", "text_blocks"]

_LEVELS = {"편": 1, "장": 2, "절": 3, "관": 4, "조": 5}
# Alone on a line: "제2장 총칙", "제1절 통칙", "제3조", "제3조(목적)", "제10조의2 (정의)". With the
# body on the same line only as "제3조(목적) 본문…": the parenthesised title is required then, so
# a wrapped line that merely starts with "제3조 제1항에 따라" is not taken for a heading.
_PART = re.compile(r"^제\s*\d+\s*([편장절관])(?:\s+[^.。]{1,30})?$")
_ARTICLE = re.compile(r"^제\s*\d+\s*조(?:의\s*\d+)?(?:\s*[(（][^()（）]{1,40}[)）])?$")
_INLINE = re.compile(r"^(제\s*\d+\s*조(?:의\s*\d+)?\s*[(（][^()（）]{1,40}[)）])\s*(\S.*)$")
_ADDENDA = re.compile(r"^부\s*칙(?:\s*[<(（].{0,30}[>)）])?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def decode_text(content: bytes, uri: str) -> str:
    """Bytes → str for text formats; raises IngestError for binary content or an unknown charset."""
    for bom, codec in ((codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if content.startswith(bom):
            return content.decode(codec, errors="replace")
    if b"\x00" in content[:8192]:
        raise IngestError(uri, "binary content, not text")
    for codec in ("utf-8-sig", "cp949"):
        try:
            text = content.decode(codec)
        except UnicodeDecodeError:
            continue
        # CP949 decodes many random byte runs; real text has almost no control characters.
        sample = text[:8192]
        if sample and len(_CONTROL.findall(sample)) > len(sample) * 0.01:
            raise IngestError(uri, "binary content, not text")
        return text
    raise IngestError(uri, "unknown character encoding (tried UTF-8, UTF-16 with BOM, CP949/EUC-KR)")


def text_blocks(text: str, page: int | None = None) -> list[Block]:
    """Paragraphs split at blank lines, with Korean statute headings lifted out as headings."""
    blocks: list[Block] = []
    lines: list[str] = []

    def flush() -> None:
        if any(line.strip() for line in lines):
            blocks.append(Block(BlockKind.PARAGRAPH, "\n".join(lines).strip("\n"), page=page))
        lines.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            flush()
        elif m := _PART.match(stripped):
            flush()
            blocks.append(Block(BlockKind.HEADING, stripped, level=_LEVELS[m.group(1)], page=page))
        elif _ARTICLE.match(stripped):
            flush()
            blocks.append(Block(BlockKind.HEADING, stripped, level=_LEVELS["조"], page=page))
        elif _ADDENDA.match(stripped):
            flush()
            blocks.append(Block(BlockKind.HEADING, stripped, level=_LEVELS["장"], page=page))
        elif m := _INLINE.match(stripped):
            flush()
            blocks.append(Block(BlockKind.HEADING, m.group(1), level=_LEVELS["조"], page=page))
            lines.append(m.group(2))
        else:
            lines.append(line)
    flush()
    return blocks


@register(".txt", ".text", media_types=("text/plain",))
def parse_text(doc: SourceDocument) -> ParsedDocument:
    return ParsedDocument(doc, text_blocks(decode_text(doc.content, doc.uri)))
