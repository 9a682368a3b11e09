"""The connector table: URI schemes to connector factories, and opening the connector a URI
names. Built-in connectors register here through the same hook an extension uses
(`gureum.knowledge.connectors` imports them)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from gureum.errors import InvalidRequest
from gureum.knowledge.documents import IngestError, SourceDocument

__all__ = ["Connector", "open_source", "register", "schemes"]


class Connector(Protocol):
    """A source of documents.

    `documents()` yields lazily so a large source streams. An item that cannot be read (an
    unreadable file, a broken ACL sidecar) is skipped — never ingested with a guessed ACL — and
    recorded in `errors` so the caller reports it with the parser's `IngestError`s.
    `list_uris()` returns every current document uri, cheaply (no content), for sync deletion.
    `documents(want)` yields only the documents whose uri `want` accepts, deciding before the
    content is read, so a source can be split between workers (`jobs/ingest.py` shards by uri).
    A failure of the source as a whole (missing folder or bucket, bad query) raises.
    """

    errors: list[IngestError]

    def documents(self, want: Callable[[str], bool] | None = None) -> Iterator[SourceDocument]: ...

    def list_uris(self) -> set[str]: ...


F = TypeVar("F", bound=Callable[..., Connector])
_FACTORIES: dict[str, Callable[..., Connector]] = {}


def register(scheme: str) -> Callable[[F], F]:
    """Register a connector factory `(uri, **options) -> Connector` for a URI scheme."""

    def decorate(factory: F) -> F:
        _FACTORIES[scheme.lower()] = factory
        return factory

    return decorate


def schemes() -> list[str]:
    return sorted(_FACTORIES)


def open_source(uri: str, **options: Any) -> Connector:
    """The connector for `uri`. A bare path is a local folder; `dialect+driver://` URLs (SQLAlchemy
    style) fall back to the dialect's registration."""
    scheme = urlsplit(uri).scheme.lower()
    if len(scheme) <= 1:  # no scheme, or a Windows drive letter
        scheme = "file"
    factory = _FACTORIES.get(scheme) or _FACTORIES.get(scheme.split("+", 1)[0])
    if factory is None:
        raise InvalidRequest(f"no connector for {scheme}:// URIs (known: {', '.join(schemes())})", param="uri")
    return factory(uri, **options)
