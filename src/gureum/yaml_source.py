"""A YAML file read once with where each key sits: the data (as `yaml.safe_load` gives it) and a
map from key paths (`("governance", "tenants", "acme", "residency")`, list items by index) to
their line and column, so a configuration error or a `gureum check` finding can name the spot.

PyYAML's composed nodes keep these marks; constructing the document from the same nodes gives
exactly what `safe_load` would, so the positions always describe the data we validate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass
class YamlSource:
    path: Path
    data: Any
    positions: dict[Path_, Position] = field(default_factory=dict)

    def at(self, path: Sequence[str | int]) -> tuple[Position | None, int]:
        """The position of `path`, or of its deepest prefix present in the file, and how many
        of its parts were found (0: nothing of it is in the file)."""
        parts = tuple(path)
        for n in range(len(parts), 0, -1):
            pos = self.positions.get(parts[:n])
            if pos is not None:
                return pos, n
        return None, 0


def _walk(node: yaml.Node, prefix: Path_, out: dict[Path_, Position]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                continue
            path = (*prefix, key.value)
            out[path] = Position(key.start_mark.line + 1, key.start_mark.column + 1)
            _walk(value, path, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = (*prefix, i)
            out[path] = Position(item.start_mark.line + 1, item.start_mark.column + 1)
            _walk(item, path, out)


def parse(text: str, path: Path) -> YamlSource:
    """Raises yaml.YAMLError (its message names line and column) on malformed YAML."""
    loader = yaml.SafeLoader(text)
    loader.name = str(path)  # marks in error messages name the file
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    finally:
        loader.dispose()
    positions: dict[Path_, Position] = {}
    if node is not None:
        _walk(node, (), positions)
    return YamlSource(path, data, positions)


def read(path: Path) -> YamlSource:
    return parse(path.read_text(encoding="utf-8"), path)


__all__ = ["Position", "YamlSource", "parse", "read"]
