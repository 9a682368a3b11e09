"""ACL and metadata from the shapes sources carry them in: sidecar JSON, YAML front matter,
object tags, table columns. Shared so every connector reads `users`/`groups` the same way."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

from gureum.knowledge.documents import Acl
from gureum.knowledge.parsers.markdown import MARKDOWN_SUFFIXES, split_front_matter
from gureum.knowledge.parsers.text import decode_text

__all__ = ["SIDECAR_SUFFIXES", "acl_from_mapping", "front_matter", "names", "read_sidecar"]

SIDECAR_SUFFIXES = (".acl.json", ".meta.json")
_SEPARATORS = re.compile(r"[,\s]+")


def names(value: Any) -> tuple[str, ...]:
    """Principal names from a list, or from one string separated by commas or whitespace (what an
    S3 tag value or a text column can hold). Order kept, duplicates dropped."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable[Any] = _SEPARATORS.split(value)
    else:
        items = value if isinstance(value, list | tuple | set) else [value]  # a lone numeric user id
    return tuple(dict.fromkeys(str(v).strip() for v in items if str(v).strip()))


def acl_from_mapping(data: Mapping[str, Any]) -> tuple[Acl, dict[str, Any]]:
    """`users`/`groups` at the top level or under `acl`; every other key (tags, residency, title,
    …) becomes metadata, made JSON-safe because it is stored as JSON (YAML yields dates)."""
    nested = data.get("acl")
    if nested is not None and not isinstance(nested, Mapping):
        # Fail closed: `acl: [hr]` means "restricted", and guessing could open the document to all.
        raise ValueError("`acl` must be a mapping with `users` and/or `groups`")
    source = nested if nested is not None else data
    acl = Acl(users=names(source.get("users")), groups=names(source.get("groups")))
    rest = {k: v for k, v in data.items() if k not in ("acl", "users", "groups")}
    metadata: dict[str, Any] = json.loads(json.dumps(rest, default=str, ensure_ascii=False))
    return acl, metadata


def read_sidecar(raw: bytes, where: str) -> tuple[Acl, dict[str, Any]]:
    """Parse a sidecar's bytes; raises ValueError naming `where` when it is not a JSON object."""
    try:
        data = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"ACL sidecar {where} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"ACL sidecar {where} must be a JSON object")
    return acl_from_mapping(data)


def front_matter(name: str, content: bytes) -> tuple[Acl, dict[str, Any]]:
    """A Markdown file's YAML front matter as ACL and metadata; nothing for other files. A broken
    front matter raises ValueError rather than falling back to the collection default: its author
    meant to restrict the document."""
    if PurePosixPath(name).suffix.lower() not in MARKDOWN_SUFFIXES:
        return Acl(), {}
    front, _ = split_front_matter(decode_text(content, name))
    return acl_from_mapping(front)
