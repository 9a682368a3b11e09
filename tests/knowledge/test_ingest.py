"""`gureum ingest` end to end on a folder: incremental (unchanged = no-op, changed = atomic
replace), `--sync` removal, and a run killed mid-way then re-run (no duplicates, no orphans)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

CLI = [sys.executable, "-c", "from gureum.cli import main; main()"]


def _env(database_url: str, tmp: Path) -> dict[str, str]:
    env = {**os.environ, "GUREUM_DATABASE_URL": database_url, "GUREUM_DATA_DIR": str(tmp / "data")}
    env.pop("GUREUM_CONFIG", None)
    return env


def ingest(database_url: str, tmp: Path, collection: str, folder: Path, *extra: str) -> dict[str, Any]:
    out = subprocess.run([*CLI, "ingest", collection, str(folder), "--create", "--json", *extra], check=False,
                         env=_env(database_url, tmp), capture_output=True, text=True, timeout=600, cwd=tmp)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def integrity(database_url: str, collection: str) -> dict[str, int]:
    """Counts that must all be zero for a consistent index, plus the document count."""
    with psycopg.connect(database_url) as conn:
        cid = conn.execute("SELECT id FROM collections WHERE name = %s", (collection,)).fetchone()[0]
        q = {
            "docs": "SELECT count(*) FROM documents WHERE collection_id = %(c)s",
            "dup_uris": "SELECT count(*) FROM (SELECT uri FROM documents WHERE collection_id = %(c)s GROUP BY uri "
                        "HAVING count(*) > 1) x",
            "orphan_chunks": "SELECT count(*) FROM chunks c LEFT JOIN documents d ON d.id = c.document_id "
                             "WHERE c.collection_id = %(c)s AND d.id IS NULL",
            "docs_without_chunks": "SELECT count(*) FROM documents d WHERE d.collection_id = %(c)s AND NOT EXISTS "
                                   "(SELECT 1 FROM chunks c WHERE c.document_id = d.id)",
            "orphan_postings": "SELECT count(*) FROM chunk_terms t LEFT JOIN chunks c ON c.id = t.chunk_id "
                               "WHERE t.collection_id = %(c)s AND c.id IS NULL",
            "orphan_sentences": "SELECT count(*) FROM chunk_sentences s LEFT JOIN chunks c ON c.id = s.chunk_id "
                                "WHERE s.collection_id = %(c)s AND c.id IS NULL",
            "chunk_count_drift": "SELECT abs((SELECT coalesce(sum(n_chunks), 0) FROM acl_sets WHERE collection_id = "
                                 "%(c)s) - (SELECT count(*) FROM chunks WHERE collection_id = %(c)s))",
            "df_drift": "SELECT count(*) FROM (SELECT term, sum(df) AS df FROM term_stats WHERE collection_id = %(c)s "
                        "GROUP BY term) s FULL JOIN (SELECT term, count(*) AS df FROM chunk_terms WHERE collection_id "
                        "= %(c)s GROUP BY term) p USING (term) WHERE s.df IS DISTINCT FROM p.df",
        }
        return {k: int(conn.execute(sql, {"c": cid}).fetchone()[0]) for k, sql in q.items()}


def _clean(stats: dict[str, int]) -> bool:
    return all(v == 0 for k, v in stats.items() if k != "docs")


def test_incremental_and_sync(database_url: str, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "a.md").write_text("# 휴가 규정\n\n연차 휴가는 입사 1년 후 15일이 주어진다.\n", encoding="utf-8")
    (src / "b.txt").write_text("출장비 정산은 출장 종료 후 7일 이내에 신청한다.", encoding="utf-8")
    (src / "c.txt").write_text("The VPN must be used on public Wi-Fi networks.", encoding="utf-8")
    first = ingest(database_url, tmp_path, "policies", src)
    assert (first["added"], first["updated"], first["unchanged"]) == (3, 0, 0)
    again = ingest(database_url, tmp_path, "policies", src)
    assert (again["added"], again["updated"], again["unchanged"], again["chunks"]) == (0, 0, 3, 0)
    (src / "b.txt").write_text("출장비 정산은 출장 종료 후 14일 이내에 전자결재로 신청한다.", encoding="utf-8")
    changed = ingest(database_url, tmp_path, "policies", src)
    assert (changed["added"], changed["updated"], changed["unchanged"]) == (0, 1, 2)
    with psycopg.connect(database_url) as conn:
        texts = [r[0] for r in conn.execute(
            "SELECT c.text FROM chunks c JOIN documents d ON d.id = c.document_id WHERE d.uri = 'b.txt'")]
    assert texts and all("14일" in t for t in texts) and not any("7일" in t for t in texts)
    (src / "c.txt").unlink()
    kept = ingest(database_url, tmp_path, "policies", src)
    assert kept["deleted"] == 0 and integrity(database_url, "policies")["docs"] == 3  # no --sync: kept
    synced = ingest(database_url, tmp_path, "policies", src, "--sync")
    assert synced["deleted"] == 1
    stats = integrity(database_url, "policies")
    assert stats["docs"] == 2 and _clean(stats), stats


@pytest.mark.slow
def test_killed_mid_ingest_then_rerun(database_url: str, tmp_path: Path) -> None:
    src = tmp_path / "many"
    src.mkdir()
    n = 60
    for i in range(n):
        body = " ".join(f"문서 {i}번의 {j}번째 문장은 사내 규정 항목 {i * 7 + j}을 설명한다." for j in range(4))
        (src / f"doc-{i:03d}.txt").write_text(body, encoding="utf-8")
    proc = subprocess.Popen([*CLI, "ingest", "bulk", str(src), "--create", "--json"], env=_env(database_url, tmp_path),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    deadline = time.monotonic() + 300
    docs = 0
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with psycopg.connect(database_url) as conn:
                    row = conn.execute("SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id "
                                       "WHERE c.name = 'bulk'").fetchone()
                    docs = int(row[0]) if row else 0
            except psycopg.Error:
                docs = 0
            if docs > 0:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "ingest finished before it could be killed; make the corpus larger"
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    mid = integrity(database_url, "bulk")
    assert 0 < mid["docs"] < n and _clean(mid), mid
    report = ingest(database_url, tmp_path, "bulk", src)
    assert report["unchanged"] == mid["docs"] and report["added"] == n - mid["docs"]
    end = integrity(database_url, "bulk")
    assert end["docs"] == n and _clean(end), end
