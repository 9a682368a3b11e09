"""`gureum eval retrieval` on a tiny BEIR dataset made here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gureum.knowledge.evaluate import score

CORPUS = [
    ("d1", "서울", "서울은 대한민국의 수도이다. 한강이 도시를 가로질러 흐른다."),
    ("d2", "부산", "부산은 대한민국 최대의 항구 도시이다. 해운대 해수욕장이 유명하다."),
    ("d3", "김치", "김치는 배추를 소금에 절여 고춧가루와 젓갈로 양념한 발효 음식이다."),
    ("d4", "Python", "Python is a programming language known for readable code and indentation."),
    ("d5", "PostgreSQL", "PostgreSQL is an open-source relational database; pgvector adds vector search."),
]
QUERIES = [("q1", "대한민국의 수도는?", "d1"), ("q2", "해운대가 있는 항구 도시", "d2"), ("q3", "배추로 만든 발효 음식", "d3"),
           ("q4", "which language is known for indentation", "d4"), ("q5", "open-source database with vector search", "d5")]


def make_dataset(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    with (root / "corpus.jsonl").open("w", encoding="utf-8") as f:
        for i, t, x in CORPUS:
            f.write(json.dumps({"_id": i, "title": t, "text": x}, ensure_ascii=False) + "\n")
    with (root / "queries.jsonl").open("w", encoding="utf-8") as f:
        for i, x, _ in QUERIES:
            f.write(json.dumps({"_id": i, "text": x}, ensure_ascii=False) + "\n")
    with (root / "qrels.tsv").open("w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for i, _, d in QUERIES:
            f.write(f"{i}\t{d}\t1\n")
    return root


def test_scoring_formulas() -> None:
    qrels = {"a": {"x": 1}, "b": {"y": 1}}
    m = score({"a": ["x", "z"], "b": ["z", "w", "y"]}, qrels)
    assert m["recall@1"] == 0.5 and m["recall@5"] == 1.0
    assert m["mrr@10"] == pytest.approx((1 + 1 / 3) / 2)
    assert m["ndcg@10"] == pytest.approx((1 + 1 / 2) / 2)


def test_eval_cli(database_url: str, tmp_path: Path) -> None:
    ds = make_dataset(tmp_path / "tiny")
    env = {**os.environ, "GUREUM_DATABASE_URL": database_url, "GUREUM_DATA_DIR": str(tmp_path / "data")}
    env.pop("GUREUM_CONFIG", None)
    out = subprocess.run([sys.executable, "-c", "from gureum.cli import main; main()", "eval", "retrieval", "--dataset", str(ds), "--k", "10"],
                         env=env, capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    row = json.loads(lines[0])
    for key in ("recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10", "ingest_seconds", "query_ms_p50"):
        assert key in row
    assert row["documents"] == 5 and row["queries"] == 5
    assert row["recall@1"] >= 0.8 and row["recall@10"] == 1.0
