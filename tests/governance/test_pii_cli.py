"""`gureum pii detect|eval` through Typer's test runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from gureum.cli.pii import app

runner = CliRunner()


def test_detect_writes_one_line_per_input() -> None:
    lines = [{"text": "김유진님 010-5079-3440"}, {"text": "nothing here"}, {"text": "😀 a@b.co"}]
    stdin = "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n"
    result = runner.invoke(app, ["detect"], input=stdin)
    assert result.exit_code == 0, result.output
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert out[0] == {"entities": [
        {"start": 0, "end": 3, "type": "PERSON", "score": out[0]["entities"][0]["score"]},
        {"start": 5, "end": 18, "type": "KR_PHONE", "score": out[0]["entities"][1]["score"]},
    ]}
    assert out[1] == {"entities": []}
    assert [(e["start"], e["end"], e["type"]) for e in out[2]["entities"]] == [(2, 8, "EMAIL")]


def test_detect_type_filter_and_unknown_type() -> None:
    result = runner.invoke(app, ["detect", "--types", "KR_PHONE"], input='{"text": "김유진님 010-5079-3440"}\n')
    assert [e["type"] for e in json.loads(result.stdout)["entities"]] == ["KR_PHONE"]
    bad = runner.invoke(app, ["detect", "--types", "PHONE"], input="")
    assert bad.exit_code == 2
    assert "unknown entity type(s): PHONE" in bad.stderr and "KR_PHONE" in bad.stderr


def test_detect_reports_the_bad_line() -> None:
    result = runner.invoke(app, ["detect"], input='{"text": "ok"}\n{"text": broken}\n')
    assert result.exit_code == 2
    assert "line 2 of stdin is not valid JSON" in result.stderr
    assert '{"text":' in result.stderr  # says what a good line looks like
    missing = runner.invoke(app, ["detect"], input='{"body": "x"}\n')
    assert missing.exit_code == 2 and 'line 1 of stdin has no string "text" field' in missing.stderr


def _labelled(tmp_path: Path) -> Path:
    record = {
        "id": "r1",
        "text": "연락처 010-1234-5678, 주문 20240416818174",
        "entities": [{"start": 4, "end": 17, "type": "KR_PHONE", "text": "010-1234-5678"}],
        "hard_negatives": [{"start": 22, "end": 36, "kind": "order_number", "text": "20240416818174"}],
    }
    path = tmp_path / "labelled.jsonl"
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_eval_table_and_json(tmp_path: Path) -> None:
    path = _labelled(tmp_path)
    table = runner.invoke(app, ["eval", str(path)])
    assert table.exit_code == 0, table.output
    assert "KR_PHONE" in table.stdout and "hard-negative false positives: 0 of 1" in table.stdout
    line = runner.invoke(app, ["eval", str(path), "--json"])
    report = json.loads(line.stdout)
    assert report["types"]["KR_PHONE"] == {"precision": 1.0, "recall": 1.0, "f1": 1.0, "tp": 1, "fp": 0, "fn": 0}
    assert report["hard_negatives"] == {"total": 1, "false_positives": 0}


def test_eval_errors_say_what_to_fix(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["eval", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "is not a file" in missing.stderr
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "a", "entities": []}\n{"entities": []}\n', encoding="utf-8")
    result = runner.invoke(app, ["eval", str(bad)])
    assert result.exit_code == 2 and "line 2" in result.stderr
