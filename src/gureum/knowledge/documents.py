"""The shapes that flow through ingestion: a connector yields `SourceDocument`s, a parser turns
one into a `ParsedDocument` of structural blocks, cleaning tidies the blocks, and chunking cuts
them into `ChunkDraft`s that keep what a citation needs (heading path, page, offsets)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class Acl:
    """Who may read a document: user ids and group names. Empty both = the collection default."""

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.users and not self.groups

    def principals(self) -> list[str]:
        """The same names `Principal.principals()` yields, so the index can match them with `&&`."""
        return [f"user:{u}" for u in self.users] + [f"group:{g}" for g in self.groups] + (
            ["*"] if "*" in self.groups or "*" in self.users else []
        )


@dataclass(slots=True)
class SourceDocument:
    """One document as a connector found it, before parsing."""

    uri: str  # stable identity within the source (path relative to the root, s3 key, row key)
    content: bytes
    title: str = ""
    media_type: str | None = None  # e.g. text/markdown; parsers also look at the uri's suffix
    acl: Acl = field(default_factory=Acl)
    metadata: dict[str, Any] = field(default_factory=dict)  # tags, residency, source-specific fields
    modified: datetime | None = None


class BlockKind(StrEnum):
    HEADING = "heading"
    PARAGRAPH = "paragraph"
    LIST = "list"
    TABLE = "table"
    CODE = "code"


@dataclass(slots=True)
class Block:
    kind: BlockKind
    text: str
    level: int = 0  # heading level (1 = top); 0 for non-headings
    page: int | None = None  # 1-based page for paginated formats


@dataclass(slots=True)
class ParsedDocument:
    source: SourceDocument
    blocks: list[Block]
    title: str = ""


@dataclass(slots=True)
class ChunkDraft:
    """A chunk before embedding. `start`/`end` are offsets into the document's cleaned text
    (the blocks joined by blank lines), so a citation can point at the exact span."""

    ordinal: int
    text: str
    heading_path: list[str]
    page: int | None
    start: int
    end: int
    tokens: int


class IngestError(Exception):
    """A per-file failure (corrupt, unsupported, unreadable): reported, and the batch goes on."""

    def __init__(self, uri: str, message: str) -> None:
        super().__init__(f"{uri}: {message}")
        self.uri = uri
        self.message = message
