"""The OpenAI-compatible adapter: the provider contract, then its rerank call at the HTTP edge —
the Cohere/Jina wire shape, TEI's shape through the `rerank` entry of the parameter table, usage,
and the rerank answers only this adapter reads."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from gureum.errors import UpstreamError, UpstreamRejected
from gureum.providers import registry
from gureum.providers.base import ProviderSettings
from gureum.providers.openai_compat import OpenAICompatible
from tests.providers.contract import ProviderContract, Rig, httpx_rig
from tests.support.wire import OpenAIWire


class TestOpenAICompatibleContract(ProviderContract):
    @pytest.fixture
    def rig(self) -> Rig:
        return httpx_rig(
            "openai", OpenAIWire(), base_url="http://openai.test/v1", path="/v1", api_key="sk-test",
            chat_model="gpt-4o-mini", embed_model="text-embedding-3-small", rerank_model="bge-reranker-v2-m3",
        )


DOCS = ["구름은 하늘에 떠 있다", "The VPN must be used on public Wi-Fi.", "연차는 15일이다"]


def make(handler: Callable[[httpx.Request], httpx.Response], **options: Any) -> tuple[OpenAICompatible, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    settings = ProviderSettings(kind="openai", base_url="http://rerank.test/v1", api_key="sk-test", options=options)
    provider = registry.create("rr", settings, httpx.AsyncClient(transport=httpx.MockTransport(record)))
    assert isinstance(provider, OpenAICompatible)
    return provider, seen


async def test_cohere_jina_shape() -> None:
    answer = {"model": "bge-reranker-v2-m3", "usage": {"total_tokens": 42},
              "results": [{"index": 2, "relevance_score": 0.91, "document": {"text": DOCS[2]}},
                          {"index": 0, "relevance_score": 0.12}]}
    provider, seen = make(lambda r: httpx.Response(200, json=answer))
    result = await provider.rerank("연차는 며칠?", DOCS, "bge-reranker-v2-m3", top_n=2)
    assert result.scores == {2: 0.91, 0: 0.12} and result.usage.prompt_tokens == 42
    assert str(seen[0].url) == "http://rerank.test/v1/rerank"
    assert seen[0].headers["authorization"] == "Bearer sk-test"
    assert json.loads(seen[0].content) == {"model": "bge-reranker-v2-m3", "query": "연차는 며칠?", "documents": DOCS,
                                           "top_n": 2}


async def test_cohere_meta_tokens_and_configured_path() -> None:
    answer = {"id": "x", "results": [{"index": 1, "relevance_score": 0.5}], "meta": {"tokens": {"input_tokens": 7}}}
    provider, seen = make(lambda r: httpx.Response(200, json=answer), rerank={"path": "v2/rerank"})
    result = await provider.rerank("vpn", DOCS, "rerank-v3.5")
    assert str(seen[0].url) == "http://rerank.test/v1/v2/rerank" and "top_n" not in json.loads(seen[0].content)
    assert result.scores == {1: 0.5} and result.usage.prompt_tokens == 7


async def test_tei_shape_through_the_table() -> None:
    tei = {"path": "/rerank", "rename": {"documents": "texts"}, "drop": ["model", "top_n"]}
    provider, seen = make(lambda r: httpx.Response(200, json=[{"index": 1, "score": 0.8}, {"index": 0, "score": 0.1},
                                                              {"index": 2, "score": 0.05}]), rerank=tei)
    result = await provider.rerank("vpn", DOCS, "bge", top_n=3)
    assert str(seen[0].url) == "http://rerank.test/rerank"  # a leading / starts at the server's root
    assert json.loads(seen[0].content) == {"query": "vpn", "texts": DOCS}
    assert result.scores == {1: 0.8, 0: 0.1, 2: 0.05}
    assert result.usage.prompt_tokens > 0  # TEI reports no usage: estimated


@pytest.mark.parametrize(("response", "error", "said"), [
    (httpx.Response(503, text="overloaded"), UpstreamError, "503: overloaded"),  # a plain-text body is the message
    (httpx.Response(400, json={"error": "query too long"}), UpstreamRejected, "query too long"),  # TEI's string error
    (httpx.Response(200, json={"results": [{"index": 0}]}), UpstreamError, "malformed rerank results"),
    (httpx.Response(200, json={"results": [{"index": 9, "relevance_score": 1.0}]}), UpstreamError, "not sent"),
])
async def test_rerank_errors(response: httpx.Response, error: type[UpstreamError], said: str) -> None:
    provider, _ = make(lambda r: response)
    with pytest.raises(error) as caught:
        await provider.rerank("q", DOCS, "m")
    assert type(caught.value) is error and said in caught.value.message
