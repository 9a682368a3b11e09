"""HTML (.html, .htm) via BeautifulSoup. Boilerplate — script, style, nav, header, footer, aside
and their ARIA equivalents — is dropped; when the page marks its content with <main> or
<article>, only that is read. Headings h1–h6, paragraphs, lists (nested), tables (rows, with <th>
headers as "header: value") and <pre> become blocks, in document order."""

from __future__ import annotations

import re

from bs4 import BeautifulSoup
from bs4.element import Comment, Declaration, Doctype, NavigableString, PageElement, ProcessingInstruction, Tag

from gureum.knowledge.documents import Block, BlockKind, ParsedDocument, SourceDocument
from gureum.knowledge.parsers.layout import list_text, table_text
from gureum.knowledge.parsers.registry import register
from gureum.knowledge.parsers.text import decode_text

__all__: list[str] = []

_BOILERPLATE = ["script", "style", "noscript", "template", "svg", "iframe", "nav", "header", "footer", "aside"]
_BOILERPLATE_ROLES = re.compile(r"^(?:navigation|banner|contentinfo|complementary)$")
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_INLINE_TAGS = frozenset({
    "a", "abbr", "b", "bdi", "bdo", "cite", "code", "data", "dfn", "em", "font", "i", "kbd", "label", "mark", "q", "s",
    "samp", "small", "span", "strong", "sub", "sup", "time", "u", "var",
})
_SKIPPED_STRINGS = (Comment, Declaration, Doctype, ProcessingInstruction)
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([A-Za-z0-9_-]+)""", re.IGNORECASE)
# Pages labelled EUC-KR routinely contain CP949-only syllables; browsers decode them as CP949 too.
_CHARSET_ALIASES = {"euc-kr": "cp949", "euc_kr": "cp949", "ks_c_5601-1987": "cp949", "x-windows-949": "cp949"}


def _decode(doc: SourceDocument) -> str:
    if declared := _CHARSET.search(doc.content[:4096]):
        name = declared.group(1).decode("ascii").lower()
        try:
            return doc.content.decode(_CHARSET_ALIASES.get(name, name))
        except (LookupError, UnicodeDecodeError):
            pass  # a wrong or unknown label: detect as for plain text
    return decode_text(doc.content, doc.uri)


class _Walker:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._inline: list[str] = []

    def flush(self) -> None:
        text = "".join(self._inline).strip()
        if text:
            self.blocks.append(Block(BlockKind.PARAGRAPH, text))
        self._inline.clear()

    def walk(self, node: Tag) -> None:
        for child in node.children:
            if isinstance(child, _SKIPPED_STRINGS):
                continue
            if isinstance(child, NavigableString):
                self._inline.append(str(child))
            elif isinstance(child, Tag):
                self._element(child)

    def _element(self, tag: Tag) -> None:
        name = tag.name
        if "display:none" in str(tag.get("style") or "").replace(" ", ""):
            return  # hidden text is not what readers see
        if name in _HEADINGS:
            self.flush()
            self.blocks.append(Block(BlockKind.HEADING, _text(tag), level=_HEADINGS[name]))
        elif name in ("ul", "ol"):
            self.flush()
            self.blocks.append(Block(BlockKind.LIST, list_text(_items(tag, 0))))
        elif name == "table":
            self.flush()
            self.blocks.append(Block(BlockKind.TABLE, _table(tag)))
        elif name == "pre":
            self.flush()
            self.blocks.append(Block(BlockKind.CODE, tag.get_text().strip("\n")))
        elif name == "br":
            self._inline.append("\n")
        elif name in _INLINE_TAGS:
            self.walk(tag)
        else:  # p, div, section, blockquote, li outside a list, …: a block boundary
            self.flush()
            self.walk(tag)
            self.flush()


def _items(list_tag: Tag, depth: int) -> list[tuple[int, str, str]]:
    items: list[tuple[int, str, str]] = []
    ordered = list_tag.name == "ol"
    for n, li in enumerate(list_tag.find_all("li", recursive=False), 1):
        own, nested = [], []
        for child in li.children:
            if isinstance(child, Tag) and child.name in ("ul", "ol"):
                nested.append(child)
            else:
                own.append(_raw_text(child))
        items.append((depth, f"{n}." if ordered else "-", "".join(own)))
        for sub in nested:
            items.extend(_items(sub, depth + 1))
    return items


def _table(table: Tag) -> str:
    rows = [tr.find_all(["th", "td"], recursive=False) for tr in table.find_all("tr")]
    rows = [r for r in rows if r]
    header = bool(rows) and (all(c.name == "th" for c in rows[0]) or rows[0][0].find_parent("thead") is not None)
    return table_text([[_text(c) for c in r] for r in rows], header=header)


def _raw_text(node: PageElement) -> str:
    """Text as a browser lays it out: inline elements join without a space (작<b>성</b> stays
    one word), while block elements and <br> break words apart."""
    if isinstance(node, NavigableString):
        return "" if isinstance(node, _SKIPPED_STRINGS) else str(node)
    if not isinstance(node, Tag):
        return ""
    parts = []
    for element in (node, *node.descendants):
        if isinstance(element, Tag):
            if element.name not in _INLINE_TAGS:
                parts.append(" ")
        elif not isinstance(element, _SKIPPED_STRINGS):
            parts.append(str(element))
    return "".join(parts)


def _text(node: PageElement) -> str:
    return " ".join(_raw_text(node).split())


@register(".html", ".htm", ".xhtml", media_types=("text/html", "application/xhtml+xml"))
def parse_html(doc: SourceDocument) -> ParsedDocument:
    soup = BeautifulSoup(_decode(doc), "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup.find_all(_BOILERPLATE):
        tag.decompose()
    for tag in soup.find_all(role=_BOILERPLATE_ROLES):
        tag.decompose()
    if soup.head:
        soup.head.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    walker = _Walker()
    walker.walk(root)
    walker.flush()
    return ParsedDocument(doc, walker.blocks, title=title)
