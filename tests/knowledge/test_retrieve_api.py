"""Retrieval and answers through the running server: /v1/retrieve, /v1/answer, and the
`rag/<collection>` chat model driven with the official openai SDK (plain and streaming), with a
generative upstream and without one (extractive answers)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import orjson
import pytest

from tests.conftest import ADMIN_KEY
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

DOCS = [
    {"uri": "leave.md", "title": "휴가 규정", "text": "# 연차\n\n연차 휴가는 입사 1년 후 15일이 주어진다. 미사용 연차는 다음 해로 이월되지 않는다."},
    {"uri": "travel.md", "title": "출장 규정", "text": "# 출장비\n\n출장비 정산은 출장 종료 후 14일 이내에 전자결재로 신청한다."},
    {"uri": "security.md", "title": "Security policy", "text": "# VPN\n\nThe VPN must be used on public Wi-Fi. Passwords rotate every 90 days."},
]


def _setup(base: str, tenant: str) -> tuple[Api, str]:
    api = Api(base)
    key = api.key(ADMIN_KEY, tenant, "admin", user="kim")
    r = api.call("POST", "/v1/collections", key, {"name": "handbook"})
    assert r.status_code == 201, r.text  # type: ignore[attr-defined]
    r = api.call("POST", "/v1/collections/handbook/documents", key, {"documents": DOCS})
    assert r.status_code == 200 and r.json()["added"] == 3, r.text  # type: ignore[attr-defined]
    return api, key


@pytest.fixture(scope="module")
def gen(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    fake, url = upstream
    with serve_app(create_app(kn_gateway_settings(database_url, url, tmp_path_factory.mktemp("gen")))) as base:
        api, key = _setup(base, "gen")
        yield {"base": base, "api": api, "key": key, "fake": fake}


@pytest.fixture(scope="module")
def ext(database_url: str, tmp_path_factory: pytest.TempPathFactory, gen: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A gureum with no chat model at all (same database, another tenant)."""
    from gureum.app import create_app

    with serve_app(create_app(kn_gateway_settings(database_url, None, tmp_path_factory.mktemp("ext")))) as base:
        api, key = _setup(base, "ext")
        yield {"base": base, "api": api, "key": key}


def test_retrieve(gen: dict[str, Any]) -> None:
    r = gen["api"].call("POST", "/v1/retrieve", gen["key"], {"collection": "handbook", "query": "연차는 며칠인가요?", "k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["data"][0]["uri"] == "leave.md" and len(body["data"]) == 2
    top = body["data"][0]
    assert top["heading_path"] == ["연차"] and "15일" in top["text"]
    assert set(top["scores"]) == {"lexical", "dense"} and top["score"] >= body["data"][1]["score"]
    assert body["citations"][0]["index"] == 1 and body["citations"][0]["uri"] == "leave.md"
    assert r.headers["x-request-id"]
    bad = gen["api"].call("POST", "/v1/retrieve", gen["key"], {"collection": "handbook", "query": "x", "k": 0})
    assert bad.status_code == 422


def test_rag_chat_model_with_sdk(gen: dict[str, Any]) -> None:
    fake: FakeOpenAI = gen["fake"]
    client = openai.OpenAI(base_url=f"{gen['base']}/v1", api_key=gen["key"], max_retries=0)
    out = client.chat.completions.create(model="rag/handbook", messages=[{"role": "user", "content": "출장비 정산 기한은?"}])
    assert out.model == "rag/handbook"
    assert out.choices[0].message.content == fake.reply
    raw = out.model_dump()
    assert raw["citations"][0]["uri"] == "travel.md" and raw["citations"][0]["index"] == 1
    sent = fake.requests[-1]
    assert sent["model"] == "fake-model"
    prompt = sent["messages"][-1]["content"]
    assert "[1] 출장 규정 > 출장비" in prompt and "14일" in prompt and "출장비 정산 기한은?" in prompt
    assert "근거" in sent["messages"][0]["content"]  # Korean grounding instructions for a Korean question


def test_rag_chat_stream_with_sdk(gen: dict[str, Any]) -> None:
    fake: FakeOpenAI = gen["fake"]
    client = openai.OpenAI(base_url=f"{gen['base']}/v1", api_key=gen["key"], max_retries=0)
    chunks = list(client.chat.completions.create(
        model="rag/handbook", messages=[{"role": "user", "content": "How often do passwords rotate?"}], stream=True))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.startswith(fake.reply)
    assert "Sources:" in text and "security.md" in text
    cites = [c for ch in chunks for c in (ch.model_dump().get("citations") or [])]
    assert cites[0]["uri"] == "security.md"
    assert all(c.model == "rag/handbook" for c in chunks)


def test_answer_endpoint(gen: dict[str, Any]) -> None:
    r = gen["api"].call("POST", "/v1/answer", gen["key"], {"collection": "handbook", "query": "VPN은 언제 써야 하나요?"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["answer"] == gen["fake"].reply and body["extractive"] is False and body["answer_model"] == "gpt-test"
    assert body["citations"] and body["citations"][0]["uri"] == "security.md"
    with httpx.stream("POST", f"{gen['base']}/v1/answer", headers={"authorization": f"Bearer {gen['key']}"},
                      json={"collection": "handbook", "query": "VPN은 언제 써야 하나요?", "stream": True}, timeout=60) as s:
        events = [orjson.loads(line[6:]) for line in s.iter_lines() if line.startswith("data: {")]
    assert any(e.get("citations") for e in events)


def test_extractive_without_a_generative_model(ext: dict[str, Any]) -> None:
    client = openai.OpenAI(base_url=f"{ext['base']}/v1", api_key=ext["key"], max_retries=0)
    out = client.chat.completions.create(model="rag/handbook", messages=[{"role": "user", "content": "연차는 며칠인가요?"}])
    raw = out.model_dump()
    content = out.choices[0].message.content or ""
    assert raw["extractive"] is True and "no generative model" in raw["reason"]
    assert "발췌" in content and "[1]" in content and "15일" in content
    assert raw["citations"][0]["uri"] == "leave.md"
    chunks = list(client.chat.completions.create(model="rag/handbook", stream=True,
                                                 messages=[{"role": "user", "content": "연차는 며칠인가요?"}]))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "15일" in streamed and any(ch.model_dump().get("citations") for ch in chunks)
    r = ext["api"].call("POST", "/v1/answer", ext["key"], {"collection": "handbook", "query": "passwords"})
    assert r.status_code == 200 and r.json()["extractive"] is True, r.text


def test_demo_model_answers_extractively(kn_settings: Any) -> None:
    from gureum.config import DeploymentSettings
    from gureum.knowledge.collections import Collection
    from gureum.knowledge.rag_models import answer_plan
    from gureum.providers.base import ProviderSettings
    from gureum.routing.catalog import Catalog

    settings = kn_settings.model_copy(update={
        "providers": {"local": ProviderSettings(kind="local")},
        "deployments": [DeploymentSettings(name="local-chat", provider="local", model="smollm2-135m-instruct")],
    })
    catalog = Catalog(settings, {"local": object()})  # type: ignore[dict-item]
    col = Collection("c", "t", "n", "", "local-embed", 384, 400, 50, "local", ("*",), "mask", None)
    model, _, why = answer_plan(catalog, col, None)
    assert model is None and "demo" in why


@pytest.mark.parametrize("policy", ["exclude", "mask", "allow"])
def test_pii_policy_for_external_models(gen: dict[str, Any], policy: str) -> None:
    api, key, fake = gen["api"], gen["key"], gen["fake"]
    name = f"pii-{policy}"
    assert api.call("POST", "/v1/collections", key, {"name": name, "pii_policy": policy}).status_code == 201
    text = "보안 점검 담당자 연락처는 010-2345-6789 입니다. 보안 점검은 매주 월요일 오전에 한다."
    r = api.call("POST", f"/v1/collections/{name}/documents", key, {"documents": [{"uri": "sec.txt", "text": text}]})
    assert r.status_code == 200, r.text
    hits = api.call("POST", "/v1/retrieve", key, {"collection": name, "query": "보안 점검 담당자"}).json()["data"]
    assert "KR_PHONE" in hits[0]["pii_types"]  # detected at ingest, stored with the chunk
    client = openai.OpenAI(base_url=f"{gen['base']}/v1", api_key=key, max_retries=0)
    n = len(fake.requests)
    client.chat.completions.create(model=f"rag/{name}", messages=[{"role": "user", "content": "보안 점검 담당자는?"}])
    prompt = fake.requests[n]["messages"][-1]["content"]  # gpt-test is in region "us": external
    if policy == "exclude":
        assert "매주 월요일" not in prompt and "010-2345-6789" not in prompt
    elif policy == "mask":
        assert "매주 월요일" in prompt and "010-2345-6789" not in prompt
    else:
        assert "매주 월요일" in prompt
