"""Collections declared in gureum.yaml: `gureum ingest` creates them from their declaration the
first time it fills them, and leaves an existing one as it is."""

from __future__ import annotations

from pathlib import Path

import psycopg
import yaml
from typer.testing import CliRunner

from gureum.cli import app


def test_ingest_creates_a_declared_collection(database_url: str, tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "leave.md").write_text("# 휴가 규정\n\n연차는 15일이다.\n", encoding="utf-8")
    cfg = tmp_path / "gureum.yaml"
    cfg.write_text(yaml.safe_dump({
        "database_url": database_url, "data_dir": str(tmp_path / "data"),
        "collections": [{"name": "hr", "tenant": "acme", "default_acl": ["group:hr"], "pii_policy": "exclude",
                         "description": "HR rules"}],
    }), encoding="utf-8")
    result = CliRunner().invoke(app, ["ingest", "hr", str(docs), "--tenant", "acme", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT default_acl, pii_policy, description, embedder FROM collections "
                           "WHERE tenant_id = 'acme' AND name = 'hr'").fetchone()
        docs_in = conn.execute("SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id "
                               "WHERE c.name = 'hr'").fetchone()[0]
    assert row == (["group:hr"], "exclude", "HR rules", "local-embed") and docs_in == 1
    undeclared = CliRunner().invoke(app, ["ingest", "other", str(docs), "--tenant", "acme", "--config", str(cfg)])
    assert undeclared.exit_code == 2 and "declare it under `collections:`" in " ".join(undeclared.output.split())
