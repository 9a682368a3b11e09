"""The provider adapter contract.

gureum's canonical wire format is OpenAI's: a chat request is the OpenAI `chat.completions`
body (a dict), a reply is an OpenAI `chat.completion` dict, a stream yields OpenAI
`chat.completion.chunk` dicts. An adapter translates that to and from its provider's protocol,
maps its provider's errors into `gureum.errors` in one place (a `map_error` function, applied by
`map_errors` around every call), and reports token usage as our own `Usage`. Adapters never
import governance, routing or the API: they only speak to one provider.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from gureum.errors import GureumError


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # Input tokens the provider served from its own prompt cache (billed at its discounted price).
    cached_tokens: int = 0
    # Input tokens written into the provider's prompt cache (Anthropic/Bedrock bill these higher).
    cache_write_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def to_openai(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }
        if self.cached_tokens or self.cache_write_tokens:
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
            if self.cache_write_tokens:
                out["prompt_tokens_details"]["cache_write_tokens"] = self.cache_write_tokens
        return out

    @classmethod
    def from_openai(cls, raw: dict[str, Any] | None) -> Usage:
        if not raw:
            return cls()
        details = raw.get("prompt_tokens_details") or {}
        return cls(
            prompt_tokens=int(raw.get("prompt_tokens") or 0),
            completion_tokens=int(raw.get("completion_tokens") or 0),
            cached_tokens=int(details.get("cached_tokens") or 0),
            cache_write_tokens=int(details.get("cache_write_tokens") or 0),
        )


@dataclass(slots=True)
class ChatResult:
    body: dict[str, Any]  # an OpenAI chat.completion object
    usage: Usage


@dataclass(slots=True)
class EmbedResult:
    vectors: list[list[float]]
    usage: Usage
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class RerankResult:
    # Input index -> relevance score (higher is more relevant), for the documents the provider
    # scored: all of them, or its best `top_n`.
    scores: dict[int, float]
    usage: Usage


class ProviderSettings(BaseModel):
    """One configured provider endpoint (the `providers:` section of gureum.yaml)."""

    model_config = ConfigDict(extra="forbid")

    kind: str = Field(description="Adapter: openai, anthropic, bedrock, gemini, local.")
    base_url: str | None = Field(default=None, description="Endpoint URL (OpenAI-compatible servers, Anthropic, Gemini).")
    api_key: str | None = Field(default=None, description="Credential; use ${ENV_VAR} to read it from the environment.")
    api_version: str | None = Field(default=None, description="API version: Azure OpenAI's api-version query parameter, or the Gemini API version.")
    region: str | None = Field(default=None, description="Cloud region for Bedrock / Vertex.")
    project: str | None = Field(default=None, description="Google Cloud project (Vertex).")
    timeout: float = Field(default=60.0, description="Seconds before a call to this provider is abandoned.")
    connect_timeout: float = Field(default=5.0, description="Seconds to establish a connection.")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers sent on every call.")
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="Adapter-specific options, e.g. the OpenAI-compatible parameter table (rename/drop/default/clamp).",
    )


ErrorMap = Callable[[Exception], GureumError]


class map_errors:  # noqa: N801 — a context manager, named like contextlib.suppress
    """An adapter's one mapping point: inside `with map_errors(map_error):` any exception its
    SDK or transport raises leaves as the `GureumError` that `map_error` makes of it, chained to
    the original. A `GureumError` passes unchanged, and so do `BaseException`s that are not
    errors (`GeneratorExit`, `CancelledError`): wrapped around the loop of an async-generator
    `stream`, it maps what the upstream raises mid-stream while a consumer closing or cancelling
    the stream still closes it. Stateless, so one instance serves every call of an adapter.
    (httpx's `_transports.default.map_httpcore_exceptions` is the model.)"""

    __slots__ = ("_map",)

    def __init__(self, map_error: ErrorMap) -> None:
        self._map = map_error

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> Literal[False]:
        if isinstance(exc, Exception) and not isinstance(exc, GureumError):
            raise self._map(exc) from exc
        return False


def retry_after(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The provider's `retry-after`, as the headers of the error its 429 (or 5xx) becomes, so a
    client that is finally refused waits as long as the provider asked."""
    value = headers.get("retry-after") if headers is not None else None
    return {"retry-after": str(value)} if value else {}


@runtime_checkable
class Provider(Protocol):
    """A model provider. `model` is the provider's own model id for the chosen deployment."""

    name: str

    async def chat(self, body: dict[str, Any], model: str) -> ChatResult: ...

    def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[dict[str, Any]]:
        """Yield OpenAI chunk dicts; the last one carries `usage` (estimated if the provider gives none)."""
        ...

    async def embed(self, inputs: list[str], model: str, *, kind: str = "passage") -> EmbedResult:
        """`kind` is `query` or `passage` for embedders that encode the two differently (e5)."""
        ...

    async def rerank(self, query: str, documents: list[str], model: str, top_n: int | None = None) -> RerankResult:
        """Score `documents` against `query` with a rerank (cross-encoder) model; `top_n` asks for
        only the best ones. Adapters whose provider has no rerank models raise `InvalidRequest`."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class Tokenizing(Protocol):
    """An adapter that can count tokens with a model's own tokenizer (an in-process model): the
    knowledge layer sizes chunks with it. Adapters without it are counted by estimate."""

    def token_count(self, model: str, text: str) -> int: ...
