"""The parser table: file suffixes and media types to the parser that reads them, and parsing one
document with the parser its name or media type selects. Built-in parsers register here through
the same hook an extension uses (`gureum.knowledge.parsers` imports them)."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from gureum.knowledge.documents import BlockKind, IngestError, ParsedDocument, SourceDocument

__all__ = ["Parser", "media_type_for", "parse", "register", "suffixes"]

Parser = Callable[[SourceDocument], ParsedDocument]

_BY_SUFFIX: dict[str, Parser] = {}
_BY_MEDIA_TYPE: dict[str, Parser] = {}
_MEDIA_TYPE_OF: dict[str, str] = {}  # suffix -> the first media type registered with it


def register(*suffixes: str, media_types: Iterable[str] = ()) -> Callable[[Parser], Parser]:
    """Register a parser for file suffixes (".md") and media types ("text/markdown")."""
    types = [m.lower() for m in media_types]

    def decorate(parser: Parser) -> Parser:
        for suffix in suffixes:
            _BY_SUFFIX[suffix.lower()] = parser
            if types:
                _MEDIA_TYPE_OF.setdefault(suffix.lower(), types[0])
        for media_type in types:
            _BY_MEDIA_TYPE[media_type] = parser
        return parser

    return decorate


def suffixes() -> list[str]:
    return sorted(_BY_SUFFIX)


def media_type_for(name: str) -> str | None:
    """The media type a file name implies: what connectors and uploads record for a file (the
    platform's own table first; where it knows nothing, what a parser registered for the suffix,
    since mimetypes does not know .md on every platform)."""
    return mimetypes.guess_type(name)[0] or _MEDIA_TYPE_OF.get(PurePosixPath(name).suffix.lower())


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
