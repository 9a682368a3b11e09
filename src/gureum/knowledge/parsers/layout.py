"""How lists and tables become block text, shared by every parser so the chunker can split them
the same way whatever the source format (see the conventions in `parsers/__init__.py`)."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["list_text", "table_text"]


def list_text(items: Sequence[tuple[int, str, str]]) -> str:
    """(depth, marker, text) items → one line per item, nested items indented two spaces."""
    lines = (f"{'  ' * depth}{marker} {' '.join(text.split())}" for depth, marker, text in items if text.strip())
    return "\n".join(lines)


def table_text(rows: Sequence[Sequence[str]], header: bool | None = None) -> str:
    """Rows of cells → text. With a header row, every data row becomes "header: value" lines
    (rows separated by a blank line), so a row split off a long table still says what its values
    mean. Without one, cells are joined with " | ", one row per line.

    `header=None` guesses: a first row of distinct, non-empty cells over at least one more row
    (form-like layout tables, common in Korean office documents, fail this and stay as rows)."""
    rows = [[" ".join(c.split()) for c in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if header is None:
        first = rows[0] if rows else []
        header = len(rows) > 1 and len(first) > 1 and all(first) and len(set(first)) == len(first)
    if not header or len(rows) < 2:
        return "\n".join(" | ".join(c for c in row if c) for row in rows)
    names = rows[0]
    records = []
    for row in rows[1:]:
        lines = [f"{names[i] if i < len(names) and names[i] else f'column {i + 1}'}: {cell}"
                 for i, cell in enumerate(row) if cell]
        if lines:
            records.append("\n".join(lines))
    return "\n\n".join(records)
