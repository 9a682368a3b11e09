"""The semantic cache: paraphrases (Korean and English) are answered from cache, near-misses
that differ in the one word that matters are not, and the threshold, the semantic switch and
the exact-only header are honoured per tenant and per request."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from gureum.cache.terms import compatible, signature
from tests.conftest import ADMIN_KEY, gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

PAIRS = Path(__file__).resolve().parents[2] / "bench" / "data" / "cache_pairs.jsonl"


@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app

    cache = {"semantic_timeout": 30, "tenants": {"strict": {"threshold": 0.999}, "nosem": {"semantic": False}}}
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("sem"), cache=cache)
    with serve_app(create_app(settings)) as base:
        yield base


def key_for(base: str, tenant: str) -> str:
    r = httpx.post(f"{base}/v1/admin/keys", headers={"authorization": f"Bearer {ADMIN_KEY}"},
                   json={"tenant_id": tenant, "role": "member", "user_id": f"u-{tenant}"}, timeout=60)
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def ask(base: str, content: str, key: str = ADMIN_KEY, headers: dict[str, str] | None = None) -> httpx.Response:
    h = {"authorization": f"Bearer {key}", "x-request-id": "req_" + uuid.uuid4().hex, **(headers or {})}
    body = {"model": "gpt-test", "messages": [{"role": "user", "content": content}], "temperature": 0}
    r = httpx.post(f"{base}/v1/chat/completions", json=body, headers=h, timeout=60)
    assert r.status_code == 200, r.text
    return r


def test_english_paraphrase_is_a_semantic_hit(gw: str, upstream: tuple[FakeOpenAI, str], database_url: str) -> None:
    fake = upstream[0]
    assert ask(gw, "What is the refund period?").headers["x-gureum-cache"] == "miss"
    n = len(fake.requests)
    r = ask(gw, "How long is the refund period?")
    assert r.headers["x-gureum-cache"] == "semantic"
    assert float(r.headers["x-gureum-cache-similarity"]) >= 0.935
    assert r.json()["choices"][0]["message"]["content"] == fake.reply
    assert len(fake.requests) == n
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT cache, cost, cost_saved, route FROM ledger WHERE request_id = %s",
                           (r.headers["x-request-id"],)).fetchone()
    assert row is not None
    cache, cost, saved, route = row
    assert cache == "semantic" and cost == 0 and saved > 0
    assert "content terms agree" in route["cache"]["why"]


def test_korean_paraphrase_is_a_semantic_hit(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    ask(gw, "골드 카드 연회비가 얼마예요?")
    n = len(fake.requests)
    assert ask(gw, "골드 카드의 연회비는 얼마인가요?").headers["x-gureum-cache"] == "semantic"
    assert len(fake.requests) == n


@pytest.mark.parametrize(
    ("stored", "asked"),
    [
        ("환불 기간은 얼마나 되나요?", "교환 기간은 얼마나 되나요?"),
        ("What is the credit limit for the Gold card?", "What is the credit limit for the Platinum card?"),
        ("3월 15일 이후 주문도 취소할 수 있나요?", "4월 15일 이후 주문도 취소할 수 있나요?"),
        ("배송비가 포함된 가격인가요?", "배송비가 포함되지 않은 가격인가요?"),
        ("How do I turn on notifications?", "How do I turn off notifications?"),
        ("반품 방법이 궁금해요", "반품 기간이 궁금해요"),
        ("What is the exchange period for shoes?", "신발 교환 기간은 얼마나 되나요?"),
    ],
)
def test_near_misses_are_not_hits(gw: str, upstream: tuple[FakeOpenAI, str], stored: str, asked: str) -> None:
    # (Each pair is new to this module's cache: nothing else stored could match `asked`.)
    fake = upstream[0]
    ask(gw, stored)
    n = len(fake.requests)
    assert ask(gw, asked).headers["x-gureum-cache"] == "miss"
    assert len(fake.requests) == n + 1


def test_tenant_threshold_and_semantic_switch(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    for tenant in ("strict", "nosem"):
        key = key_for(gw, tenant)
        ask(gw, "How do I reset my password?", key)
        n = len(fake.requests)
        assert ask(gw, "How can I reset my password?", key).headers["x-gureum-cache"] == "miss"
        assert ask(gw, "How do I reset my password?", key).headers["x-gureum-cache"] == "exact"
        assert len(fake.requests) == n + 1


def test_exact_only_header(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    ask(gw, "How do I cancel my subscription?")
    r = ask(gw, "How can I cancel my subscription?", headers={"x-gureum-cache": "exact"})
    assert r.headers["x-gureum-cache"] == "miss"


def test_guard_rules() -> None:
    def ok(a: str, b: str) -> bool:
        return compatible(signature(a), signature(b), 0.8)[0]

    assert ok("재택근무 신청은 어떻게 하나요?", "재택 근무 신청은 어떻게 하나요?")  # compound with or without a space
    assert ok("How do I reset my password?", "What's the way to reset my password?")
    assert not ok("환불 기간은?", "교환 기간은?")  # substituted term
    assert not ok("1년 약정 위약금", "2년 약정 위약금")  # numbers with units
    assert not ok("Is the warranty valid abroad?", "Is the warranty not valid abroad?")  # negation
    assert not ok("환불 방법", "환불 기간")  # how vs how long
    assert not ok("What is the annual fee?", "What is the annual fee for the Gold card?")  # a qualifier added
    assert not ok("refund period", "환불 기간")  # language


def test_labelled_pairs_file() -> None:
    rows = [json.loads(line) for line in PAIRS.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(rows) >= 150 and len({r["id"] for r in rows}) == len(rows)
    same = [r for r in rows if r["label"] == "same"]
    diff = [r for r in rows if r["label"] == "different"]
    assert len(same) >= 60 and len(diff) >= 60
    assert {r["lang"] for r in rows} >= {"ko", "en"}
    # The term guard alone (before any embedding) refuses almost every near-miss.
    refused: list[Any] = [r for r in diff if not compatible(signature(r["a"]), signature(r["b"]), 0.8)[0]]
    assert len(refused) / len(diff) >= 0.95
