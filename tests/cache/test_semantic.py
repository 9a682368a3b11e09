"""The semantic cache through a running gateway: paraphrases (Korean and English) are answered
from cache, near misses (a word, a direction, a number, a negation) are not, the stored entry
carries its analysis, and the threshold, the semantic switch and the exact-only header are
honoured per tenant and per request. (The decision itself on unseen pairs: test_decision.py.)"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from gureum.cache.analysis import VERSION
from gureum.cache.decision import shipped
from tests.conftest import ADMIN_KEY, gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import make_key
from tests.support.servers import serve_app


@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app

    cache = {"semantic_timeout": 30, "tenants": {"strict": {"threshold": 1.0}, "nosem": {"semantic": False}}}
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("sem"), cache=cache)
    with serve_app(create_app(settings)) as base:
        yield base


def key_for(base: str, tenant: str) -> str:
    return make_key(base, tenant, user=f"u-{tenant}")


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
    assert float(r.headers["x-gureum-cache-similarity"]) >= shipped().min_cosine
    assert r.json()["choices"][0]["message"]["content"] == fake.reply
    assert len(fake.requests) == n
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT cache, cost, cost_saved, route FROM ledger WHERE request_id = %s",
                           (r.headers["x-request-id"],)).fetchone()
    assert row is not None
    cache, cost, saved, route = row
    assert cache == "semantic" and cost == 0 and saved > 0
    assert route["cache"]["why"].startswith("p ") and " >= " in route["cache"]["why"]
    with psycopg.connect(database_url) as conn:
        (analysis,) = conn.execute("SELECT analysis FROM cache_entries WHERE query = %s",
                                   ("What is the refund period?",)).fetchone() or (None,)
    assert analysis is not None and analysis["v"] == VERSION and analysis["lang"] == "en"


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
        ("울산에서 포항으로 가는 버스 몇 시에 있어요?", "포항에서 울산으로 가는 버스 몇 시에 있어요?"),
        ("How do I convert ounces to grams?", "How do I convert grams to ounces?"),
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
