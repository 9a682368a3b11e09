"""Data moves one way (api → flow → stages → providers/knowledge/store): the layers below the flow
never import it or the API, and provider adapter names stay inside the providers package."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "gureum"
BELOW_THE_FLOW = ("governance", "knowledge", "routing", "cache", "providers", "economy", "store")
UPPER = ("gureum.flow", "gureum.api", "gureum.platform", "gureum.app", "gureum.cli")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize("package", BELOW_THE_FLOW)
def test_lower_layers_never_import_the_flow_or_the_api(package: str) -> None:
    offenders = {
        f"{path.relative_to(SRC)}: {name}"
        for path in (SRC / package).rglob("*.py")
        for name in _imports(path)
        if name == "gureum.flow" or name.startswith(UPPER)
    }
    assert not offenders, sorted(offenders)


def test_provider_names_live_in_the_providers_package() -> None:
    from gureum.providers import registry

    kinds = {k for k in registry.kinds() if k != "local"}  # "local" is also a region name
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.is_relative_to(SRC / "providers"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in kinds:
                offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {node.value!r}")
    assert not offenders, offenders


def test_the_checks_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from gureum.flow.types import Context\nimport gureum.api.common\n", encoding="utf-8")
    assert {"gureum.flow.types", "gureum.api.common"} <= _imports(bad)
