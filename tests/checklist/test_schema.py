"""The JSON Schema of gureum.yaml: generated from the settings, checked in and current, every key
described, and it accepts the example file and refuses what the settings refuse."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from gureum.cli import app
from gureum.config_schema import schema

ROOT = Path(__file__).resolve().parents[2]
CHECKED_IN = ROOT / "docs" / "gureum.schema.json"


def test_checked_in_schema_is_current() -> None:
    out = CliRunner().invoke(app, ["config", "schema"]).output
    assert json.loads(out) == schema()
    assert CHECKED_IN.read_text(encoding="utf-8") == out, (
        "docs/gureum.schema.json is stale: run `gureum config schema > docs/gureum.schema.json`")


def _undescribed(node: Any, path: str, out: list[str]) -> None:
    if isinstance(node, dict):
        for key, prop in (node.get("properties") or {}).items():
            if "description" not in prop:
                out.append(f"{path}.{key}")
        for key, value in node.items():
            _undescribed(value, f"{path}/{key}", out)
    elif isinstance(node, list):
        for value in node:
            _undescribed(value, path, out)


def test_every_key_is_described() -> None:
    missing: list[str] = []
    _undescribed(schema(), "", missing)
    assert missing == []


def test_example_file_validates() -> None:
    data = yaml.safe_load((ROOT / "gureum.example.yaml").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema()).validate(data)


@pytest.mark.parametrize("bad", [
    {"deployments": [{"name": "a", "provider": "p", "model": "m", "regoin": "kr"}]},
    {"governance": {"tenants": {"a": {"rpm": 0}}}},
    {"check": {"suppress": [{"rule": "GRV001", "expires": "2030-01-01"}]}},
    {"collections": [{"name": "a", "pii_policy": "sometimes"}]},
])
def test_schema_refuses_what_settings_refuse(bad: dict[str, Any]) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema()).validate(bad)
