"""`gureum check --live`: the running platform's effective configuration (GET /v1/admin/config,
platform admins only, audited, no secrets) with its keys and the collections in its database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from gureum.cli import app
from tests.conftest import ADMIN_KEY, gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import create_key
from tests.support.servers import serve_app

DEPLOYMENTS = [
    {"name": "gpt-test", "provider": "fake", "model": "fake-model", "price": {"input": 1, "output": 2}, "region": "us"},
    {"name": "emb-test", "provider": "fake", "model": "fake-embed", "kind": "embedding", "region": "us",
     "dimensions": 8, "price": {"input": 0.02}},
]


@pytest.fixture(scope="module")
def live(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app

    settings = gateway_settings(
        database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("live"), deployments=DEPLOYMENTS,
        governance={"tenants": {"acme": {"residency": ["kr-only"]}}}, check={"key_max_days": 30},
    )
    with serve_app(create_app(settings)) as base:
        yield base


def _key(base: str, tenant: str, role: str) -> str:
    return _created(base, tenant, role)[0]


def _created(base: str, tenant: str, role: str) -> tuple[str, str]:
    return create_key(base, tenant, role)


def test_config_route_is_admin_only_audited_and_hides_secrets(live: str, database_url: str) -> None:
    member = _key(live, "acme", "member")
    r = httpx.get(f"{live}/v1/admin/config", headers={"authorization": f"Bearer {member}"})
    assert r.status_code == 403 and r.json()["error"]["type"]
    tenant_admin = _key(live, "acme", "admin")
    r = httpx.get(f"{live}/v1/admin/config", headers={"authorization": f"Bearer {tenant_admin}"})
    assert r.status_code == 403 and "root tenant" in r.json()["error"]["message"]
    r = httpx.get(f"{live}/v1/admin/config", headers={"authorization": f"Bearer {ADMIN_KEY}"})
    assert r.status_code == 200
    body = r.json()
    assert body["settings"]["providers"]["fake"]["api_key"] == "***" and body["settings"]["admin_key"] == "***"
    assert "sk-upstream-fake" not in r.text and ADMIN_KEY not in r.text
    assert all("hash" not in k and "prefix" not in k for k in body["keys"])
    with psycopg.connect(database_url) as conn:
        actions = [row[0] for row in conn.execute("SELECT action FROM audit_events ORDER BY seq")]
    assert "admin.config.read" in actions


def test_live_check_finds_db_collections_and_keys(live: str) -> None:
    acme_admin, acme_admin_id = _created(live, "acme", "admin")
    r = httpx.post(f"{live}/v1/collections", headers={"authorization": f"Bearer {acme_admin}"},
                   json={"name": "contracts", "embedder": "emb-test"})
    assert r.status_code == 201, r.text
    result = CliRunner().invoke(app, ["check", "--live", live, "--key", ADMIN_KEY, "-f", "json"])
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    where = {(f["rule"], f["where"]) for f in doc["findings"]}
    # the collection exists only in the database: embedded in us although its tenant is kr-only
    assert ("GRV003", "collections[acme/contracts]:emb-test@fake") in where
    assert ("SEC006", "collections[acme/contracts]") in where
    never = {f["where"] for f in doc["findings"] if f["rule"] == "SEC004"}
    assert f"keys.{acme_admin_id}" in never
    grv = next(f for f in doc["findings"] if f["rule"] == "GRV003")
    assert grv["location"]["file"] == live


def test_live_unreachable_or_bad_key_exits_2(live: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["check", "--live", live, "--key", "sk-wrong"])
    assert result.exit_code == 2
    result = CliRunner().invoke(app, ["check", "--live", "http://127.0.0.1:9", "--key", ADMIN_KEY])
    assert result.exit_code == 2 and "cannot reach" in " ".join(result.output.split())


def test_file_with_live_state(live: str, tmp_path: Path) -> None:
    """The file's declarations checked with the running platform's collections: a collection that
    exists only in the database and embeds with a model the file does not declare is a drift."""
    import yaml

    acme_admin = _key(live, "acme", "admin")
    r = httpx.post(f"{live}/v1/collections", headers={"authorization": f"Bearer {acme_admin}"},
                   json={"name": "drift", "embedder": "emb-test", "default_acl": ["group:legal"]})
    assert r.status_code == 201, r.text
    cfg = tmp_path / "gureum.yaml"
    cfg.write_text(yaml.safe_dump({
        "providers": {"local": {"kind": "local"}},
        "deployments": [{"name": "local-embed", "provider": "local", "model": "e5", "kind": "embedding",
                         "dimensions": 384}],
        "governance": {"tenants": {"acme": {"residency": ["kr-only"]}}},
    }), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(cfg), "--live", live, "--key", ADMIN_KEY, "-f", "json",
                                      "--fail-on", "never"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["origin"] == str(cfg)
    drift = [f for f in doc["findings"] if f["rule"] == "WRK003" and f["where"].startswith("collections[acme/drift]")]
    assert drift and "embedder 'emb-test' is not an embedding model in the catalog" in drift[0]["message"]
    assert drift[0]["location"]["file"] == live
