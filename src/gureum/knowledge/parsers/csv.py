"""CSV and TSV (.csv, .tsv): the delimiter is sniffed, the first row is the header, and every
row becomes "header: value" lines (empty cells left out), rows grouped into table blocks. Excel
saves Korean CSV as CP949, which `decode_text` handles."""

from __future__ import annotations

import csv
import io

from gureum.knowledge.documents import Block, BlockKind, ParsedDocument, SourceDocument
from gureum.knowledge.parsers.layout import table_text
from gureum.knowledge.parsers.registry import register
from gureum.knowledge.parsers.text import decode_text

__all__: list[str] = []

# Rows per table block: bounded blocks keep cleaning's per-block work small; the chunker still
# packs or splits them by rows.
ROWS_PER_BLOCK = 50


def _dialect(sample: str, tab_default: bool) -> type[csv.Dialect] | csv.Dialect:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:  # one column, or too irregular to tell: the format's usual delimiter
        return csv.excel_tab if tab_default else csv.excel


@register(".csv", ".tsv", media_types=("text/csv", "text/tab-separated-values"))
def parse_csv(doc: SourceDocument) -> ParsedDocument:
    text = decode_text(doc.content, doc.uri)
    dialect = _dialect(text[:65536], doc.uri.lower().endswith(".tsv"))
    rows = [row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)]
    if not rows:
        return ParsedDocument(doc, [])
    header, data = rows[0], rows[1:]
    blocks = [
        Block(BlockKind.TABLE, table_text([header, *data[i:i + ROWS_PER_BLOCK]], header=True))
        for i in range(0, len(data), ROWS_PER_BLOCK)
    ]
    return ParsedDocument(doc, blocks or [Block(BlockKind.TABLE, table_text([header], header=False))])
