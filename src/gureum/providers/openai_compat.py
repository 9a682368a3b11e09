"""Any OpenAI-compatible server: OpenAI, Azure OpenAI, vLLM, Ollama, llama.cpp server, LM Studio …

The servers differ only in small ways, so the differences are a declarative parameter table in
`options` (see `ParamTable`), not code: rename a parameter, drop one the server rejects, fill a
default, clamp a range. Azure is selected by setting `api_version`.

Reranking speaks the de-facto `/rerank` of these servers (Cohere's and Jina's shape, which vLLM,
Infinity, LocalAI and Cohere-compatible servers expose): `{model, query, documents, top_n}` in,
`{results: [{index, relevance_score}], usage | meta}` out. Its path and field names are the
table's `rerank` entry, so Hugging Face TEI (`{query, texts}` in, `[{index, score}]` out) is
configuration too.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Any

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field

from gureum.errors import GureumError, UpstreamError, UpstreamRateLimited, UpstreamRejected, UpstreamTimeout
from gureum.providers.base import (
    ChatResult,
    EmbedResult,
    ProviderSettings,
    RerankResult,
    Usage,
    map_errors,
    retry_after,
)
from gureum.providers.registry import register
from gureum.providers.shapes import usage_chunk
from gureum.tokens import estimate_messages, estimate_tokens


class RerankTable(BaseModel):
    """`options.rerank` of an OpenAI-compatible provider: where its rerank endpoint is and how its
    body differs from Cohere's."""

    model_config = ConfigDict(extra="forbid")
    path: str = Field(
        default="rerank",
        description="Relative to base_url (`rerank` → …/v1/rerank for base_url …/v1); a leading `/` starts at the "
        "server's root (`/rerank` for Infinity or TEI behind a base_url that ends in /v1).",
    )
    rename: dict[str, str] = Field(
        default_factory=dict, description="Field → this server's name (TEI: documents → texts)."
    )
    drop: list[str] = Field(default_factory=list, description="Fields this server rejects (TEI: model, top_n).")


class ParamTable(BaseModel):
    """`options:` of an OpenAI-compatible provider."""

    model_config = ConfigDict(extra="forbid")
    rename: dict[str, str] = Field(default_factory=dict, description="Parameter → the name this server uses.")
    drop: list[str] = Field(default_factory=list, description="Parameters this server rejects.")
    defaults: dict[str, Any] = Field(default_factory=dict, description="Values sent when the client sends none.")
    clamp: dict[str, tuple[float, float]] = Field(default_factory=dict, description="Numeric ranges to clamp into.")
    stream_usage: bool = Field(default=True, description="Ask for usage in streams (stream_options.include_usage).")
    rerank: RerankTable = Field(default_factory=RerankTable, description="The rerank endpoint and its field names.")


def _rewrite(body: dict[str, Any], rename: dict[str, str], drop: list[str]) -> dict[str, Any]:
    for src, dst in rename.items():
        if src in body:
            body[dst] = body.pop(src)
    for key in drop:
        body.pop(key, None)
    return body


def map_error(name: str, exc: Exception) -> GureumError:
    """The one place this adapter's failures become gureum errors (applied by each instance's
    `map_errors`): transport failures, and any reply the code below could not read."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"provider '{name}' timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return UpstreamError(f"provider '{name}' connection failed: {type(exc).__name__}")
    if isinstance(exc, (KeyError, TypeError, ValueError, AttributeError)):
        return UpstreamError(f"provider '{name}' answered with an unexpected JSON shape ({type(exc).__name__}: {exc})")
    return UpstreamError(f"provider '{name}': {type(exc).__name__}: {exc}")


def error_from_response(name: str, status: int, raw: bytes, headers: Mapping[str, str] | None = None) -> UpstreamError:
    message = raw[:300].decode("utf-8", "replace")  # the raw text, unless the body says more
    with contextlib.suppress(orjson.JSONDecodeError, AttributeError):
        err = orjson.loads(raw).get("error")
        if isinstance(err, dict) and err.get("message"):
            message = str(err["message"])
        elif isinstance(err, str):
            message = err
    text = f"provider '{name}' returned {status}: {message}"
    wait = retry_after(headers)
    if status == 429:
        return UpstreamRateLimited(text, upstream_status=status, headers=wait)
    if status >= 500 or status in (408, 409):
        return UpstreamError(text, upstream_status=status, headers=wait)
    return UpstreamRejected(text, upstream_status=status)


def _json(name: str, raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise UpstreamError(f"provider '{name}' answered with something that is not JSON") from None


def _parse(name: str, raw: bytes) -> dict[str, Any]:
    data = _json(name, raw)
    if not isinstance(data, dict):
        raise UpstreamError(f"provider '{name}' answered with an unexpected JSON shape")
    return data


class OpenAICompatible:
    def __init__(self, name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> None:
        self.name = name
        self.settings = settings
        self.http = http
        self._errors = map_errors(partial(map_error, name))
        self.table = ParamTable(**settings.options)
        base = (settings.base_url or "https://api.openai.com/v1").rstrip("/")
        self.base = base
        self.azure = settings.api_version is not None
        headers = {"content-type": "application/json", **settings.headers}
        if settings.api_key:
            if self.azure:
                headers["api-key"] = settings.api_key
            else:
                headers["authorization"] = f"Bearer {settings.api_key}"
        self.headers = headers
        self.timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
        # RFC 3986 joining against base + "/": a relative path extends base_url, "/path" replaces its path.
        self.rerank_url = str(httpx.URL(f"{base}/").join(self.table.rerank.path))

    def _url(self, path: str, model: str) -> str:
        if self.azure:
            return f"{self.base}/openai/deployments/{model}/{path}?api-version={self.settings.api_version}"
        return f"{self.base}/{path}"

    def _body(self, body: dict[str, Any], model: str) -> dict[str, Any]:
        t = self.table
        out = _rewrite({**t.defaults, **body, "model": model}, t.rename, t.drop)
        for key, (lo, hi) in t.clamp.items():
            if isinstance(out.get(key), (int, float)):
                out[key] = min(hi, max(lo, out[key]))
        return out

    async def _request(self, url: str, payload: dict[str, Any]) -> bytes:
        """One non-streaming call: the body answered, or the gureum error for its status."""
        r = await self.http.post(url, content=orjson.dumps(payload), headers=self.headers, timeout=self.timeout)
        if r.status_code >= 400:
            raise error_from_response(self.name, r.status_code, r.content, r.headers)
        return r.content

    async def _post(self, path: str, model: str, payload: dict[str, Any]) -> dict[str, Any]:
        return _parse(self.name, await self._request(self._url(path, model), payload))

    async def chat(self, body: dict[str, Any], model: str) -> ChatResult:
        payload = self._body(body, model)
        payload.pop("stream", None)
        payload.pop("stream_options", None)
        with self._errors:
            data = await self._post("chat/completions", model, payload)
            if not isinstance(data.get("choices"), list):
                raise UpstreamError(f"provider '{self.name}' answered without choices")
            usage = Usage.from_openai(data.get("usage"))
            if not data.get("usage"):
                usage = _estimate(body, data)
                data["usage"] = usage.to_openai()
            return ChatResult(data, usage)

    async def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[dict[str, Any]]:
        payload = self._body(body, model)
        payload["stream"] = True
        if self.table.stream_usage:
            payload["stream_options"] = {**(payload.get("stream_options") or {}), "include_usage": True}
        req = self.http.build_request(
            "POST", self._url("chat/completions", model), content=orjson.dumps(payload), headers=self.headers,
            timeout=self.timeout,
        )
        with self._errors:
            resp = await self.http.send(req, stream=True)
            try:
                if resp.status_code >= 400:
                    raise error_from_response(self.name, resp.status_code, await resp.aread(), resp.headers)
                usage: Usage | None = None
                completion_chars: list[str] = []
                last: dict[str, Any] | None = None
                async for line in resp.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    chunk = _parse(self.name, data.encode())
                    if "error" in chunk and "choices" not in chunk:
                        raise error_from_response(self.name, 502, data.encode())
                    if chunk.get("usage"):
                        usage = Usage.from_openai(chunk["usage"])
                    for choice in chunk.get("choices") or ():
                        piece = (choice.get("delta") or {}).get("content")
                        if piece:
                            completion_chars.append(piece)
                    last = chunk
                    if chunk.get("choices") or not chunk.get("usage"):
                        yield chunk
                if last is None:
                    raise UpstreamError(f"provider '{self.name}' closed the stream without data")
                if usage is None:
                    usage = Usage(
                        estimate_messages(body.get("messages", [])), estimate_tokens("".join(completion_chars))
                    )
                # The usage chunk is ours (the server's may be missing), stamped like the server's chunks.
                yield usage_chunk(last.get("id", ""), last.get("created", 0), last.get("model", model), usage)
            finally:
                await resp.aclose()

    async def embed(self, inputs: list[str], model: str, *, kind: str = "passage") -> EmbedResult:
        with self._errors:
            data = await self._post("embeddings", model, {"model": model, "input": inputs})
            try:
                rows = sorted(data["data"], key=lambda d: d.get("index", 0))
                vectors = [list(map(float, row["embedding"])) for row in rows]
            except (KeyError, TypeError, ValueError):
                raise UpstreamError(f"provider '{self.name}' returned malformed embeddings") from None
            usage = Usage(prompt_tokens=int((data.get("usage") or {}).get("prompt_tokens") or 0))
            if not usage.prompt_tokens:
                usage.prompt_tokens = sum(estimate_tokens(t) for t in inputs)
            return EmbedResult(vectors, usage)

    async def rerank(self, query: str, documents: list[str], model: str, top_n: int | None = None) -> RerankResult:
        t = self.table.rerank
        body: dict[str, Any] = {"model": model, "query": query, "documents": documents}
        if top_n is not None:
            body["top_n"] = top_n
        with self._errors:
            data = _json(self.name, await self._request(self.rerank_url, _rewrite(body, t.rename, t.drop)))
            rows: Any = data.get("results") if isinstance(data, dict) else data
            try:
                # Cohere and Jina call it relevance_score, TEI score.
                scores = {int(r["index"]): float(r.get("relevance_score", r.get("score"))) for r in rows}
            except (KeyError, TypeError, ValueError, AttributeError):
                raise UpstreamError(f"provider '{self.name}' returned malformed rerank results") from None
            if any(not 0 <= i < len(documents) for i in scores):
                raise UpstreamError(f"provider '{self.name}' ranked a document it was not sent")
            tokens = _rerank_tokens(data) or sum(estimate_tokens(query) + estimate_tokens(d) for d in documents)
            return RerankResult(scores, Usage(prompt_tokens=tokens))

    async def aclose(self) -> None:
        return None


def _rerank_tokens(data: Any) -> int:
    """The input tokens a rerank answer reports: `usage` (vLLM, Jina, Infinity) or Cohere's
    `meta.tokens`; 0 when it reports none (TEI), and the caller estimates."""
    if not isinstance(data, dict):
        return 0
    usage = data.get("usage") or {}
    meta = (data.get("meta") or {}).get("tokens") or {}
    return int(usage.get("prompt_tokens") or usage.get("total_tokens") or meta.get("input_tokens") or 0)


def _estimate(body: dict[str, Any], data: dict[str, Any]) -> Usage:
    text = "".join(
        ((c.get("message") or {}).get("content") or "") for c in data.get("choices", []) if isinstance(c, dict)
    )
    return Usage(estimate_messages(body.get("messages", [])), estimate_tokens(text))


@register("openai")
def _factory(name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> OpenAICompatible:
    return OpenAICompatible(name, settings, http)
