"""Settings: YAML, ${VAR} expansion, environment overrides, clear errors; the generated reference is current."""

from __future__ import annotations

from pathlib import Path

import pytest

from gureum.config import ConfigError, load_settings
from gureum.config_reference import reference

ROOT = Path(__file__).resolve().parents[2]


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    s = load_settings(ROOT / "gureum.example.yaml")
    assert s.providers["openai"].api_key == "sk-from-env"
    assert {d.name for d in s.deployments} >= {"gpt-4o", "local-embed"}


def test_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "g.yaml"
    cfg.write_text("port: 9000\nrouting: {retries: 3}\n")
    monkeypatch.setenv("GUREUM_PORT", "9100")
    monkeypatch.setenv("GUREUM_ROUTING__RETRIES", "0")
    s = load_settings(cfg)
    assert s.port == 9100 and s.routing.retries == 0


def test_default_expansion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    cfg = tmp_path / "g.yaml"
    cfg.write_text('providers: {p: {kind: openai, base_url: "${NOT_SET_ANYWHERE:-http://x/v1}"}}\n'
                   "deployments: [{name: m, provider: p, model: m}]\n")
    assert load_settings(cfg).providers["p"].base_url == "http://x/v1"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("port: [1\n", "not valid YAML"),
        ("- a\n- b\n", "top level must be a mapping"),
        ("deployments: [{name: m, provider: nowhere, model: m}]\n", "unknown provider 'nowhere'"),
        ("no_such_setting: 1\n", "no_such_setting"),
    ],
)
def test_bad_config_says_what_is_wrong(tmp_path: Path, text: str, needle: str) -> None:
    cfg = tmp_path / "g.yaml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=needle):
        load_settings(cfg)


def test_missing_explicit_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.yaml")


def test_embedded_defaults_without_catalog() -> None:
    s = load_settings(use_file=False)
    assert any(d.name == "local-embed" and d.kind == "embedding" for d in s.deployments)


def test_configuration_doc_is_generated_from_code() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert doc == reference(), "docs/configuration.md is stale: run `gureum config reference > docs/configuration.md`"
