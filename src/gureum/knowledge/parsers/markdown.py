"""Markdown (.md): ATX and setext headings, lists (nested by indent), GFM tables, fenced and
indented code, block quotes and paragraphs, with inline markup reduced to its text. YAML front
matter is stripped here and read by connectors for the ACL (`split_front_matter`)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from gureum.knowledge.documents import Block, BlockKind, ParsedDocument, SourceDocument
from gureum.knowledge.parsers.layout import list_text, table_text
from gureum.knowledge.parsers.registry import register
from gureum.knowledge.parsers.text import decode_text

__all__ = ["MARKDOWN_SUFFIXES", "split_front_matter"]

MARKDOWN_SUFFIXES = (".md", ".markdown")

_FRONT = re.compile(r"\A---[ \t]*\r?\n(.*?)\r?\n(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:\s+(.*?))?(?:\s+#+)?\s*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:\s*\1){2,}\s*$")
_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,9}[.)])\s+(.*)$")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s+\S")
_INLINE = [
    (re.compile(r"<!--.*?-->", re.DOTALL), ""),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images → alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # links → their text
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),
    (re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s[^<>]*)?/?>"), ""),  # HTML tags (not "<표 1>")
    (re.compile(r"(\*\*|__)(\S.*?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(\S.*?)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<!\w)_(\S.*?)_(?!\w)"), r"\1"),  # not snake_case
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"`+([^`]+)`+"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~])"), r"\1"),
]


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(front matter mapping, body). A leading `---` block that is not a YAML mapping is not
    front matter (it may be a horizontal rule); one that is broken YAML raises ValueError."""
    m = _FRONT.match(text)
    if not m:
        return {}, text
    try:
        data = yaml.safe_load(m.group(1))
    except yaml.YAMLError as exc:
        raise ValueError(f"invalid YAML front matter: {exc}") from exc
    if not isinstance(data, dict):
        return {}, text
    return data, text[m.end():]


def inline(text: str) -> str:
    for pattern, replacement in _INLINE:
        text = pattern.sub(replacement, text)
    return text.strip()


def _starts_block(line: str) -> bool:
    return bool(_FENCE.match(line) or _ATX.match(line) or _ITEM.match(line) or _RULE.match(line))


def _starts_table(lines: list[str], i: int) -> bool:
    """A GFM table: a row with pipes over a delimiter row like |---|:--:|."""
    return "|" in lines[i] and i + 1 < len(lines) and "|" in lines[i + 1] and bool(_TABLE_SEP.match(lines[i + 1]))


def markdown_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip() or _LINK_DEF.match(line):
            i += 1
        elif fence := _FENCE.match(line):
            mark, body = fence.group(1), []
            i += 1
            while i < n and not lines[i].strip().startswith(mark):
                body.append(lines[i])
                i += 1
            blocks.append(Block(BlockKind.CODE, "\n".join(body)))
            i += 1
        elif atx := _ATX.match(line):
            blocks.append(Block(BlockKind.HEADING, inline(atx.group(2) or ""), level=len(atx.group(1))))
            i += 1
        elif _RULE.match(line):
            i += 1
        elif _starts_table(lines, i):
            rows = [_cells(line)]
            i += 2
            while i < n and "|" in lines[i] and lines[i].strip():
                rows.append(_cells(lines[i]))
                i += 1
            blocks.append(Block(BlockKind.TABLE, table_text(rows, header=True)))
        elif _ITEM.match(line):
            items: list[tuple[int, str, str]] = []
            while i < n and lines[i].strip():
                if _RULE.match(lines[i]):
                    break
                if item := _ITEM.match(lines[i]):
                    depth = len(item.group(1).expandtabs(4)) // 2
                    marker = "-" if item.group(2) in "-*+" else item.group(2)
                    items.append((depth, marker, inline(item.group(3))))
                elif _starts_block(lines[i]):
                    break
                else:  # a continuation line of the previous item
                    depth, marker, prev = items[-1]
                    items[-1] = (depth, marker, f"{prev} {inline(lines[i])}")
                i += 1
                # a blank line ends the list unless the next line continues it
                if i + 1 < n and not lines[i].strip() and _ITEM.match(lines[i + 1]):
                    i += 1
            blocks.append(Block(BlockKind.LIST, list_text(items)))
        elif line.startswith(("    ", "\t")):
            body = []
            while i < n and (lines[i].startswith(("    ", "\t")) or not lines[i].strip()):
                body.append(lines[i][4:] if lines[i].startswith("    ") else lines[i][1:])
                i += 1
            blocks.append(Block(BlockKind.CODE, "\n".join(body).strip("\n")))
        else:
            para = [line]
            i += 1
            while i < n and lines[i].strip() and not _starts_block(lines[i]) and not _starts_table(lines, i):
                if _SETEXT.match(lines[i]) and len(para) == 1:
                    break
                para.append(lines[i])
                i += 1
            if i < n and len(para) == 1 and (setext := _SETEXT.match(lines[i])) and lines[i].strip():
                blocks.append(Block(BlockKind.HEADING, inline(para[0]), level=1 if setext.group(1)[0] == "=" else 2))
                i += 1
                continue
            quoted = [re.sub(r"^\s*>\s?", "", p) for p in para]
            blocks.append(Block(BlockKind.PARAGRAPH, "\n".join(inline(p) for p in quoted)))
    return blocks


def _cells(row: str) -> list[str]:
    row = row.strip().removeprefix("|").removesuffix("|")
    return [inline(c.replace("\\|", "|")) for c in re.split(r"(?<!\\)\|", row)]


@register(*MARKDOWN_SUFFIXES, media_types=("text/markdown", "text/x-markdown"))
def parse_markdown(doc: SourceDocument) -> ParsedDocument:
    front, body = split_front_matter(decode_text(doc.content, doc.uri))
    return ParsedDocument(doc, markdown_blocks(body), title=str(front.get("title") or ""))
