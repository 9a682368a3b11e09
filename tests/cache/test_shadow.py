"""The shadow sample through a running gateway, against a scripted upstream whose answer changes:
a semantic hit is also answered by the model as a governed `shadow` child request (its own
ledger row, cost and parent), the answers are compared, and the comparison shows in the ledger,
in `/v1/usage` and in `/metrics`."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import make_key
from tests.support.servers import serve_app


@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app

    cache = {"semantic_timeout": 30, "shadow_share": 1.0}
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("shadow"), cache=cache)
    with serve_app(create_app(settings)) as base:
        yield base


def ask(base: str, key: str, content: str) -> httpx.Response:
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": content}], "temperature": 0}
    r = httpx.post(f"{base}/v1/chat/completions", json=body, timeout=60,
                   headers={"authorization": f"Bearer {key}", "x-request-id": "req_" + uuid.uuid4().hex})
    assert r.status_code == 200, r.text
    return r


def shadow_row(database_url: str, parent: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with psycopg.connect(database_url) as conn:
            cur = conn.execute("SELECT endpoint, parent_id, cost, route, status FROM ledger WHERE request_id = %s",
                               (f"{parent}:shadow",))
            row = cur.fetchone()
        if row is not None:
            return dict(zip([d.name for d in cur.description or []], row, strict=True))
        time.sleep(0.2)
    raise AssertionError(f"no shadow row for {parent}")


def test_a_semantic_hit_is_shadowed_and_a_changed_answer_counts_as_a_false_hit(
    gw: str, upstream: tuple[FakeOpenAI, str], database_url: str
) -> None:
    fake = upstream[0]
    tenant = f"sh{uuid.uuid4().hex[:6]}"
    key = make_key(gw, tenant, "admin", user="ops")
    before = fake.reply
    try:
        fake.reply = "Refunds are accepted within 30 days of purchase."
        assert ask(gw, key, "What is the refund period?").headers["x-gureum-cache"] == "miss"
        hit = ask(gw, key, "How long is the refund period?")
        assert hit.headers["x-gureum-cache"] == "semantic"
        same = shadow_row(database_url, hit.headers["x-request-id"])
        assert same["endpoint"] == "shadow" and same["parent_id"] == hit.headers["x-request-id"]
        assert same["status"] == 200 and same["cost"] > 0  # a real, costed model call
        assert same["route"]["shadow"]["compared"] and not same["route"]["shadow"]["different"]

        fake.reply = "Refunds are accepted within 14 days of purchase."  # the world changed under the cache
        again = ask(gw, key, "How long is the refund period?")
        assert again.headers["x-gureum-cache"] == "semantic"
        assert again.json()["choices"][0]["message"]["content"].endswith("30 days of purchase.")  # served stale
        changed = shadow_row(database_url, again.headers["x-request-id"])
        assert changed["route"]["shadow"]["different"] and changed["route"]["shadow"]["why"] == "numbers differ"
        assert changed["route"]["shadow"]["estimate"] == 0.5
    finally:
        fake.reply = before

    usage = httpx.get(f"{gw}/v1/usage", params={"group_by": "endpoint"}, timeout=60,
                      headers={"authorization": f"Bearer {key}"}).json()
    assert usage["totals"]["shadow_compared"] == 2 and usage["totals"]["shadow_false_hits"] == 1
    [shadow] = [r for r in usage["data"] if r["endpoint"] == "shadow"]
    assert shadow["requests"] == 2 and shadow["cost"] > 0
    metrics = httpx.get(f"{gw}/metrics", timeout=60).text
    assert f'gureum_cache_false_hit_estimate{{tenant="{tenant}"}} 0.5' in metrics


def test_no_shadow_for_exact_hits(gw: str, upstream: tuple[FakeOpenAI, str], database_url: str) -> None:
    key = make_key(gw, f"sx{uuid.uuid4().hex[:6]}")
    q = f"Exact only {uuid.uuid4().hex[:6]}"
    assert ask(gw, key, q).headers["x-gureum-cache"] == "miss"
    r = ask(gw, key, q)
    assert r.headers["x-gureum-cache"] == "exact"
    time.sleep(1)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT count(*) FROM ledger WHERE request_id = %s",
                            (r.headers["x-request-id"] + ":shadow",)).fetchone()
    assert rows == (0,)
