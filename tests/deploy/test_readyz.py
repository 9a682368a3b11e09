"""`/readyz`: ready while the store and Redis answer; 503 in OpenAI's error shape, naming what is
unreachable, once Redis is gone (liveness `/healthz` stays 200: restarting would not help)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import free_port, serve_app


@pytest.fixture(scope="module")
def gw(database_url: str, redis_url: str, upstream: tuple[FakeOpenAI, str],
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from gureum.app import create_app

    dead_redis = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    tmp: Path = tmp_path_factory.mktemp("ready")
    ok = gateway_settings(database_url, {"fake": upstream[1]}, tmp / "a", redis_url=redis_url)
    bad = gateway_settings(database_url, {"fake": upstream[1]}, tmp / "b", redis_url=dead_redis)
    with serve_app(create_app(ok)) as a, serve_app(create_app(bad)) as b:
        yield a, b


def test_ready_with_store_and_redis(gw: tuple[str, str]) -> None:
    r = httpx.get(f"{gw[0]}/readyz")
    assert r.status_code == 200 and r.json() == {"status": "ready", "checks": {"store": "ok", "redis": "ok"}}


def test_not_ready_without_redis(gw: tuple[str, str]) -> None:
    r = httpx.get(f"{gw[1]}/readyz", timeout=10)
    assert r.status_code == 503
    err = r.json()["error"]
    assert err["code"] == "not_ready" and "redis unreachable" in err["message"] and "store" not in err["message"]
    assert httpx.get(f"{gw[1]}/healthz").status_code == 200
