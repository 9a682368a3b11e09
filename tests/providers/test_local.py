"""The embedded offline models, for real: e5 embeddings and the SmolLM2 demo chat model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import openai
import pytest

from gureum.errors import UpstreamRejected
from gureum.providers.base import ProviderSettings
from gureum.providers.local import LocalProvider, default_catalog
from gureum.providers.local.chat import CHAT_MODEL, local_chat_available
from gureum.providers.local.embed import EMBED_MODEL
from tests.conftest import ADMIN_KEY
from tests.providers.contract import ProviderContract, Rig
from tests.support.servers import serve_app

needs_llama = pytest.mark.skipif(not local_chat_available(), reason="gureum[local] extra not installed")


@pytest.fixture(scope="module")
def local() -> LocalProvider:
    return LocalProvider("local", ProviderSettings(kind="local"))


class TestLocalContract(ProviderContract):
    """Offline there is no upstream: the contract's shapes, embeddings and refusals apply; the
    chat model's (needs the gureum[local] extra) run where it is installed."""

    @pytest.fixture
    def rig(self, local: LocalProvider) -> Rig:
        return Rig(local, chat_model=CHAT_MODEL if local_chat_available() else None, embed_model=EMBED_MODEL,
                   rerank_model=None)


async def test_e5_embeddings_rank_korean_sensibly(local: LocalProvider) -> None:
    q = (await local.embed(["서울의 오늘 날씨는 어때?"], EMBED_MODEL, kind="query")).vectors[0]
    passages = await local.embed(["서울은 오늘 맑고 기온은 영상 5도입니다.", "주식 시장이 하락 마감했다."], EMBED_MODEL)
    sims = np.asarray(passages.vectors) @ np.asarray(q)
    assert len(q) == 384 and abs(np.linalg.norm(q) - 1) < 1e-3
    assert sims[0] > sims[1]
    assert passages.usage.prompt_tokens > 0


async def test_unknown_local_model_is_a_clear_error(local: LocalProvider) -> None:
    from gureum.errors import InvalidRequest

    with pytest.raises(InvalidRequest, match="no embedding model"):
        await local.embed(["x"], "text-embedding-3-small")


@needs_llama
async def test_smollm_chat_and_stream(local: LocalProvider) -> None:
    body = {"messages": [{"role": "user", "content": "What is the capital of France?"}], "max_tokens": 24,
            "temperature": 0}
    result = await local.chat(body, CHAT_MODEL)
    # A 135M demo model: its words are not dependable, its mechanics are.
    text = result.body["choices"][0]["message"]["content"]
    assert text.strip()
    assert result.usage.prompt_tokens > 0 and 0 < result.usage.completion_tokens <= 24
    chunks = [c async for c in local.stream(body, CHAT_MODEL)]
    streamed = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    assert streamed.strip() == text.strip(), "greedy decoding streams the same text"
    assert 0 < chunks[-1]["usage"]["completion_tokens"] <= 24


@needs_llama
async def test_a_prompt_over_the_context_window_is_refused_not_raised_raw(local: LocalProvider) -> None:
    body = {"messages": [{"role": "user", "content": "cloud " * 3000}], "max_tokens": 8}
    with pytest.raises(UpstreamRejected, match="context window") as info:
        await local.chat(body, CHAT_MODEL)
    assert info.value.status == 400 and not info.value.retriable
    with pytest.raises(UpstreamRejected, match="context window"):
        [c async for c in local.stream(body, CHAT_MODEL)]


@pytest.fixture(scope="module")
def default_gateway(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app
    from gureum.config import load_settings

    settings = load_settings(use_file=False, data_dir=tmp_path_factory.mktemp("d"), database_url=database_url,
                             admin_key=ADMIN_KEY)
    with serve_app(create_app(settings)) as base:
        yield base


def test_default_catalog_is_offline_and_labelled(default_gateway: str) -> None:
    client = openai.OpenAI(base_url=f"{default_gateway}/v1", api_key=ADMIN_KEY, max_retries=0)
    models = {m.id: m.model_extra["gureum"] for m in client.models.list()}
    assert models["local-embed"]["regions"] == ["local"]
    if local_chat_available():
        assert "demo" in models["local-chat"]["description"]
        assert set(models) >= {"auto", "fast", "smart"}
    vec = client.embeddings.create(model="local-embed", input="구름").data[0].embedding
    assert len(vec) == 384


@needs_llama
def test_default_chat_through_the_sdk(default_gateway: str) -> None:
    client = openai.OpenAI(base_url=f"{default_gateway}/v1", api_key=ADMIN_KEY, max_retries=0, timeout=120)
    out = client.chat.completions.create(
        model="auto", messages=[{"role": "user", "content": "What is the capital of France?"}], max_tokens=16,
        temperature=0,
    )
    assert out.choices[0].message.content.strip()
    assert out.model == "auto" and 0 < out.usage.completion_tokens <= 16


def test_default_catalog_without_llama(monkeypatch: pytest.MonkeyPatch) -> None:
    import gureum.providers.local as local_mod

    monkeypatch.setattr(local_mod, "local_chat_available", lambda: False)
    local = default_catalog()
    assert [d["name"] for d in local["deployments"]] == ["local-embed"] and not local["virtual_models"]
    assert Path(__file__).exists()
