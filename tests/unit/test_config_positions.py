"""Configuration errors name the file, line and column of the offending key and what to write instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from gureum.config import ConfigError, load_settings

CONFIG = """\
providers:
  openai: {kind: openai}
deployments:
  - {name: a, provider: openai, model: m}
  - name: b
    provider: openai
    model: m
    regoin: kr
governance:
  tenants:
    acme: {rpm: many, residency: [kr-only]}
"""


def _error(tmp_path: Path, text: str) -> str:
    cfg = tmp_path / "gureum.yaml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(cfg)
    return str(info.value)


def test_errors_name_line_column_and_fix(tmp_path: Path) -> None:
    message = _error(tmp_path, CONFIG)
    cfg = tmp_path / "gureum.yaml"
    assert f"{cfg}:8:5: `deployments[1].regoin`" in message and "did you mean `region`?" in message
    assert f"{cfg}:11:12: `governance.tenants.acme.rpm`" in message and "write a whole number" in message


def test_unknown_provider_points_at_the_reference(tmp_path: Path) -> None:
    message = _error(tmp_path, "providers: {openai: {kind: openai}}\ndeployments:\n  - {name: a, provider: opena, model: m}\n")
    assert f"{tmp_path / 'gureum.yaml'}:3:15: `deployments[0].provider`" in message
    assert "unknown provider 'opena' (providers: openai)" in message


def test_wrong_choice_lists_the_choices(tmp_path: Path) -> None:
    message = _error(tmp_path, "log_format: xml\n")
    assert ":1:1: `log_format`" in message and "write one of 'json' or 'text'" in message


def test_unknown_top_level_key_suggests(tmp_path: Path) -> None:
    message = _error(tmp_path, "port: 1\ngovernence: {}\n")
    assert ":2:1: `governence`" in message and "did you mean `governance`?" in message


def test_malformed_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    message = _error(tmp_path, "port: 1\nrouting: [1\n")
    assert str(tmp_path / "gureum.yaml") in message and "line 3" in message


def test_error_from_the_environment_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GUREUM_PORT", "nope")
    message = _error(tmp_path, "host: 127.0.0.1\n")
    assert "(or a GUREUM_* environment variable): `port`" in message
