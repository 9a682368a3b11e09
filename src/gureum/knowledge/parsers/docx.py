"""Word (.docx) via python-docx, body content in document order: paragraphs styled Heading N
(or the Korean UI name 제목 N) become headings, list paragraphs (List styles or numbering) are
grouped into list blocks, tables become table blocks. The Title style gives the document title."""

from __future__ import annotations

import re
from io import BytesIO
from zipfile import BadZipFile

from docx import Document
from docx.opc.exceptions import PackageNotFoundError
from docx.table import Table
from docx.text.paragraph import Paragraph

from gureum.knowledge.documents import Block, BlockKind, IngestError, ParsedDocument, SourceDocument
from gureum.knowledge.parsers.layout import list_text, table_text
from gureum.knowledge.parsers.registry import register

__all__: list[str] = []

_HEADING_STYLE = re.compile(r"^(?:heading|제목)\s*(\d)$", re.IGNORECASE)
_TITLE_STYLES = frozenset({"title", "제목"})


def _style(paragraph: Paragraph) -> str:
    return (paragraph.style.name if paragraph.style is not None and paragraph.style.name else "").strip()


def _list_depth(paragraph: Paragraph, style: str) -> int | None:
    """Nesting depth of a list paragraph, None when it is not one."""
    if level := paragraph._p.xpath("./w:pPr/w:numPr/w:ilvl/@w:val"):
        return int(level[0])
    if paragraph._p.xpath("./w:pPr/w:numPr") or style.lower().startswith("list"):
        return 0
    return None


def _table_rows(table: Table) -> list[list[str]]:
    rows = []
    for row in table.rows:
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) not in seen:  # a merged cell is reported once per grid column it spans
                seen.add(id(cell._tc))
                cells.append(cell.text)
        rows.append(cells)
    return rows


@register(".docx", media_types=("application/vnd.openxmlformats-officedocument.wordprocessingml.document",))
def parse_docx(doc: SourceDocument) -> ParsedDocument:
    try:
        document = Document(BytesIO(doc.content))
    except (PackageNotFoundError, BadZipFile, KeyError, ValueError) as exc:
        # A zip without word/document.xml (or not a zip at all): python-docx's own messages are
        # about package internals, not about what the user gave us.
        raise IngestError(doc.uri, f"not a Word .docx file ({exc.__class__.__name__}: {exc})") from exc
    blocks: list[Block] = []
    items: list[tuple[int, str, str]] = []
    title = ""

    def flush_list() -> None:
        if items:
            blocks.append(Block(BlockKind.LIST, list_text(items)))
            items.clear()

    for part in document.iter_inner_content():
        if isinstance(part, Table):
            flush_list()
            blocks.append(Block(BlockKind.TABLE, table_text(_table_rows(part))))
            continue
        text, style = part.text.strip(), _style(part)
        if not text:
            continue
        if (depth := _list_depth(part, style)) is not None:
            items.append((depth, "-", text))
            continue
        flush_list()
        if style.lower() in _TITLE_STYLES and not title:
            title = text
        elif heading := _HEADING_STYLE.match(style):
            blocks.append(Block(BlockKind.HEADING, text, level=int(heading.group(1))))
        else:
            blocks.append(Block(BlockKind.PARAGRAPH, text))
    flush_list()
    # The Title paragraph is what readers see; core properties often hold a template's leftovers.
    return ParsedDocument(doc, blocks, title=title or (document.core_properties.title or "").strip())
