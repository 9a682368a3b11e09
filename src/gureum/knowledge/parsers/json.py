"""JSON (.json) and JSON Lines (.jsonl, .ndjson): objects are flattened into "key.path: value"
lines (list items as key[0]), so each value keeps the name that gives it meaning. A top-level list
gives one block per item, as does each line of a .jsonl file."""

from __future__ import annotations

import json
from typing import Any

from gureum.knowledge.documents import Block, BlockKind, IngestError, ParsedDocument, SourceDocument
from gureum.knowledge.parsers.registry import register
from gureum.knowledge.parsers.text import decode_text

__all__ = ["flatten"]


def flatten(value: Any, path: str = "") -> list[str]:
    """"key.path: value" lines; null and empty containers carry nothing and are left out, a list of
    scalars stays on one line."""
    if isinstance(value, dict):
        return [line for k, v in value.items() for line in flatten(v, f"{path}.{k}" if path else str(k))]
    if isinstance(value, list):
        if all(not isinstance(v, dict | list) for v in value):
            scalars = ", ".join(_scalar(v) for v in value if v is not None)
            return [f"{path}: {scalars}" if path else scalars] if scalars else []
        return [line for i, v in enumerate(value) for line in flatten(v, f"{path}[{i}]")]
    if value is None:
        return []
    return [f"{path}: {_scalar(value)}" if path else _scalar(value)]


def _scalar(value: Any) -> str:
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _blocks(values: list[Any]) -> list[Block]:
    # A bare string is prose; anything with keys is a record, split by lines like a table's rows.
    blocks = []
    for value in values:
        if lines := flatten(value):
            blocks.append(Block(BlockKind.PARAGRAPH if isinstance(value, str) else BlockKind.TABLE, "\n".join(lines)))
    return blocks


@register(".json", media_types=("application/json",))
def parse_json(doc: SourceDocument) -> ParsedDocument:
    text = decode_text(doc.content, doc.uri)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(doc.uri, f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from exc
    return ParsedDocument(doc, _blocks(data if isinstance(data, list) else [data]))


@register(".jsonl", ".ndjson", media_types=("application/jsonl", "application/x-ndjson", "application/json-lines"))
def parse_jsonl(doc: SourceDocument) -> ParsedDocument:
    values = []
    for number, line in enumerate(decode_text(doc.content, doc.uri).splitlines(), 1):
        if not line.strip():
            continue
        try:
            values.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise IngestError(doc.uri, f"invalid JSON on line {number}: {exc.msg}") from exc
    return ParsedDocument(doc, _blocks(values))
