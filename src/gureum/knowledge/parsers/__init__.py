"""Parsers turn a `SourceDocument`'s bytes into structural blocks (headings, paragraphs, lists,
tables, code). One registry maps file suffixes and media types to a parser; the built-ins below
register through the same `register` hook an extension uses.

Block text conventions every parser follows, so cleaning and chunking need no format knowledge:
a LIST block has one item per line ("- item", "1. item", nested items indented); a TABLE block has
one row per line, or — when rows are rendered as "header: value" lines — rows separated by a blank
line; a CODE block keeps its lines verbatim. Paragraphs may keep their source line breaks;
cleaning joins them.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from gureum.knowledge.documents import BlockKind, IngestError, ParsedDocument, SourceDocument

__all__ = ["Parser", "media_type_for", "parse", "register", "suffixes"]

Parser = Callable[[SourceDocument], ParsedDocument]

_BY_SUFFIX: dict[str, Parser] = {}
_BY_MEDIA_TYPE: dict[str, Parser] = {}


def register(*suffixes: str, media_types: Iterable[str] = ()) -> Callable[[Parser], Parser]:
    """Register a parser for file suffixes (".md") and media types ("text/markdown")."""

    def decorate(parser: Parser) -> Parser:
        for suffix in suffixes:
            _BY_SUFFIX[suffix.lower()] = parser
        for media_type in media_types:
            _BY_MEDIA_TYPE[media_type.lower()] = parser
        return parser

    return decorate


def suffixes() -> list[str]:
    return sorted(_BY_SUFFIX)


def media_type_for(name: str) -> str | None:
    """The media type a file name implies: what connectors and uploads record for a file."""
    if PurePosixPath(name).suffix.lower() in markdown.MARKDOWN_SUFFIXES:
        return "text/markdown"  # mimetypes does not know .md on every platform
    return mimetypes.guess_type(name)[0]


def parse(doc: SourceDocument) -> ParsedDocument:
    """Parse one document. Raises `IngestError` for an unsupported type, a corrupt or encrypted
    file, or one with no text; a parser library's own exception is mapped here, once."""
    parser = _parser_for(doc)
    try:
        parsed = parser(doc)
    except IngestError:
        raise
    except Exception as exc:  # any library failure on one file is that file's error
        raise IngestError(doc.uri, f"cannot parse ({exc.__class__.__name__}: {exc})") from exc
    if not any(b.text.strip() for b in parsed.blocks):
        raise IngestError(doc.uri, "no text found (an empty file, or a scanned image without a text layer)")
    headings = (b.text for b in parsed.blocks if b.kind is BlockKind.HEADING)
    # The connector's title (a sidecar, a title column) was set on purpose; a format's own
    # metadata is often a template's leftover.
    parsed.title = doc.title or parsed.title or next(headings, "") or PurePosixPath(doc.uri).stem
    return parsed


def _parser_for(doc: SourceDocument) -> Parser:
    # The suffix wins over the media type: uploads and buckets often label everything
    # text/plain or octet-stream, while the name is what the author chose.
    suffix = PurePosixPath(doc.uri).suffix.lower()
    media_type = (doc.media_type or "").split(";")[0].strip().lower()
    parser = _BY_SUFFIX.get(suffix) or _BY_MEDIA_TYPE.get(media_type)
    if parser is None:
        kind = suffix or media_type or "without a suffix or media type"
        raise IngestError(doc.uri, f"unsupported file type {kind} (supported: {', '.join(suffixes())})")
    return parser


# Imported last: the built-ins use `register` above, exactly like an extension would.
from gureum.knowledge.parsers import csv, docx, html, json, markdown, pdf, text  # noqa: F401
