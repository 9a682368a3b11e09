"""A local folder (recursive) or a single file.

uri = the path relative to the root, in posix form, so an index built on one machine matches the
same tree mounted elsewhere. Hidden files and folders are skipped (VCS metadata, editor swap
files). ACL, first match wins: a sidecar `<file>.acl.json`, then `<file>.meta.json`, then — for
Markdown — YAML front matter; otherwise an empty Acl (the collection default applies later).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from gureum.errors import InvalidRequest
from gureum.knowledge.connectors._acl import SIDECAR_SUFFIXES, front_matter, read_sidecar
from gureum.knowledge.connectors.registry import register
from gureum.knowledge.documents import Acl, IngestError, SourceDocument
from gureum.knowledge.parsers import media_type_for

__all__ = ["FolderConnector"]


@register("file")
class FolderConnector:
    def __init__(self, uri: str) -> None:
        path = Path(unquote(uri.removeprefix("file://")) if uri.startswith("file://") else uri).expanduser()
        if not path.exists():
            raise InvalidRequest(f"folder or file not found: {path}", param="uri")
        self.root = path if path.is_dir() else path.parent
        self._single = None if path.is_dir() else path
        self.errors: list[IngestError] = []

    def list_uris(self) -> set[str]:
        return {self._uri(p) for p in self._paths()}

    def documents(self, want: Callable[[str], bool] | None = None) -> Iterator[SourceDocument]:
        for path in self._paths():
            uri = self._uri(path)
            if want is not None and not want(uri):
                continue
            try:
                doc = self._document(path, uri)
            except IngestError as exc:
                self.errors.append(exc)
                continue
            except (OSError, ValueError) as exc:
                self.errors.append(IngestError(uri, str(exc)))
                continue
            yield doc

    def _paths(self) -> Iterator[Path]:
        if self._single is not None:
            yield self._single
            return
        for dirpath, dirnames, filenames in os.walk(self.root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if not name.startswith(".") and not name.endswith(SIDECAR_SUFFIXES):
                    yield Path(dirpath, name)

    def _uri(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def _document(self, path: Path, uri: str) -> SourceDocument:
        content = path.read_bytes()
        acl, metadata = self._acl(path, content)
        stat = path.stat()
        return SourceDocument(
            uri=uri,
            content=content,
            title=str(metadata.pop("title", "") or ""),
            media_type=media_type_for(path.name),
            acl=acl,
            metadata=metadata,
            modified=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
        )

    def _acl(self, path: Path, content: bytes) -> tuple[Acl, dict[str, Any]]:
        for suffix in SIDECAR_SUFFIXES:
            sidecar = path.with_name(path.name + suffix)
            if sidecar.is_file():
                return read_sidecar(sidecar.read_bytes(), sidecar.name)
        return front_matter(path.name, content)
