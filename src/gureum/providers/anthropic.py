"""Anthropic Messages API adapter.

Speaks HTTP directly over the injected `httpx.AsyncClient` (no SDK), so the whole protocol is
visible here and tests fake only the HTTP edge. OpenAI chat.completions in, Messages API out,
and back: system prompt, multi-part content (text, images, PDFs), tool use, streaming SSE,
prompt-cache markers (`cache_control`) and usage with cache read/write tokens.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from gureum.errors import (
    GureumError,
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from gureum.providers import shapes
from gureum.providers.base import ChatResult, EmbedResult, Provider, ProviderSettings, RerankResult, Usage
from gureum.providers.base import map_errors, retry_after
from gureum.providers.registry import register
from gureum.providers.shapes import FinishReason

__all__ = ["AnthropicProvider", "map_error", "to_anthropic_request", "from_anthropic_message"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
# The Messages API requires max_tokens; OpenAI does not. Used when the client sends none.
DEFAULT_MAX_TOKENS = 4096

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# Error `type` in an error body or SSE error event -> the HTTP status Anthropic documents for it.
_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class _StreamError(Exception):
    """An `event: error` inside a 200 SSE stream (e.g. overloaded mid-answer)."""

    def __init__(self, err_type: str, message: str) -> None:
        super().__init__(message)
        self.err_type = err_type
        self.message = message


# --------------------------------------------------------------------------- errors


def map_error(exc: Exception) -> GureumError:
    """The one place Anthropic failures become gureum errors (applied by `_ERRORS`)."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"anthropic: timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return UpstreamError(f"anthropic: connection failed ({type(exc).__name__}: {exc})", retriable=True)
    if isinstance(exc, httpx.HTTPStatusError):
        resp = exc.response
        err_type, message = _error_detail(resp)
        return _by_status(resp.status_code, f"anthropic {resp.status_code} {err_type}: {message}", resp.headers)
    if isinstance(exc, _StreamError):
        status = _ERROR_STATUS.get(exc.err_type, 500)
        return _by_status(status, f"anthropic stream error {exc.err_type}: {exc.message}")
    if isinstance(exc, (shapes.MalformedReply, ValueError, KeyError, TypeError, AttributeError)):
        return UpstreamError(f"anthropic: response is not the Messages protocol ({exc})", retriable=True)
    return UpstreamError(f"anthropic: {type(exc).__name__}: {exc}", retriable=True)


_ERRORS = map_errors(map_error)


def _by_status(status: int, message: str, headers: Mapping[str, str] | None = None) -> GureumError:
    wait = retry_after(headers)
    if status == 429:
        return UpstreamRateLimited(message, upstream_status=429, headers=wait)
    if status in (408, 504):
        return UpstreamTimeout(message, upstream_status=status)
    # 409 (conflict) is documented as transient; 5xx and 529 (overloaded) are the provider's problem.
    if status == 409 or status >= 500:
        return UpstreamError(message, retriable=True, upstream_status=status, headers=wait)
    if 400 <= status < 500:
        return UpstreamRejected(message, upstream_status=status)
    return UpstreamError(message, retriable=True, upstream_status=status)


def _error_detail(resp: httpx.Response) -> tuple[str, str]:
    try:
        err = resp.json()["error"]
        return str(err.get("type", "error")), str(err.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):  # an HTML page from a proxy, an empty body...
        return "error", resp.text[:200] or resp.reason_phrase


# --------------------------------------------------------------------------- request


def to_anthropic_request(
    body: dict[str, Any], model: str, *, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """Translate an OpenAI chat.completions body into a Messages API body."""
    with shapes.malformed_request():
        return _request(body, model, default_max_tokens)


def _request(body: dict[str, Any], model: str, default_max_tokens: int) -> dict[str, Any]:
    shapes.require_one_choice(body)
    # Anthropic has one top-level system prompt; instructions given mid-conversation join it.
    system, messages = shapes.split_messages(
        body.get("messages") or [],
        system=lambda msg: _blocks(msg.get("content"), msg.get("cache_control"), allow_media=False),
        user=lambda msg: _blocks(msg.get("content"), msg.get("cache_control")),
        assistant=_assistant_blocks,
        tool=lambda msg: [_tool_result(msg)],
    )
    max_tokens = shapes.max_tokens(body)
    out: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": default_max_tokens if max_tokens is None else max_tokens,
    }
    if system:
        out["system"] = system
    if body.get("temperature") is not None:
        # OpenAI allows 0..2, Anthropic 0..1: clamp rather than have the provider refuse.
        out["temperature"] = min(float(body["temperature"]), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = float(body["top_p"])
    stop = shapes.stop_sequences(body)
    if stop:
        out["stop_sequences"] = stop
    if body.get("user"):
        out["metadata"] = {"user_id": str(body["user"])}
    tools = body.get("tools") or []
    if tools:
        out["tools"] = [_tool(t) for t in tools]
        choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"))
        if choice:
            out["tool_choice"] = choice
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        schema = (fmt.get("json_schema") or {}).get("schema") or {"type": "object"}
        out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}
    return out


def _blocks(content: Any, cache_control: Any = None, *, allow_media: bool = True) -> list[dict[str, Any]]:
    """OpenAI content (str or parts) -> Anthropic content blocks. A message-level
    `cache_control` marks the message's last block, as LiteLLM accepts it."""
    blocks: list[dict[str, Any]] = []
    for part in shapes.content_parts(content):
        kind = part.get("type")
        if kind == "text":
            if not part.get("text"):
                continue  # Anthropic rejects empty text blocks
            block: dict[str, Any] = {"type": "text", "text": part["text"]}
        elif kind == "image_url" and allow_media:
            block = _image(part["image_url"])
        elif kind == "file" and allow_media:
            block = _document(part["file"])
        else:
            raise InvalidRequest(f"content part type '{kind}' is not supported here", param="messages")
        if part.get("cache_control"):
            block["cache_control"] = dict(part["cache_control"])
        blocks.append(block)
    if cache_control and blocks:
        blocks[-1]["cache_control"] = dict(cache_control)
    return blocks


def _image(image_url: dict[str, Any] | str) -> dict[str, Any]:
    url = shapes.image_url(image_url)
    if url.startswith("data:"):
        return {"type": "image", "source": _base64_source(url)}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _document(file: dict[str, Any]) -> dict[str, Any]:
    source = _base64_source(shapes.inline_file_data(file))
    if source["media_type"] != "application/pdf":
        raise InvalidRequest(f"file type '{source['media_type']}' is not supported (PDF only)", param="messages")
    return {"type": "document", "source": source}


def _base64_source(url: str) -> dict[str, Any]:
    # Anthropic takes the base64 text itself, so it is passed on as received (checked, not re-encoded).
    parsed = shapes.parse_data_url(url)
    media_type = parsed.mime or "application/octet-stream"
    return {"type": "base64", "media_type": media_type, "data": parsed.encoded}


def _assistant_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = _blocks(shapes.content_parts(msg.get("content"), text_only=True), None, allow_media=False)
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        arguments = shapes.tool_arguments(fn.get("arguments"))
        blocks.append({"type": "tool_use", "id": call["id"], "name": fn.get("name", ""), "input": arguments})
    if msg.get("cache_control") and blocks:
        blocks[-1]["cache_control"] = dict(msg["cache_control"])
    return blocks


def _tool_result(msg: dict[str, Any]) -> dict[str, Any]:
    content = msg.get("content")
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": msg.get("tool_call_id")}
    if isinstance(content, list):
        block["content"] = _blocks(content)
    else:
        block["content"] = str(content or "")
    if msg.get("cache_control"):
        block["cache_control"] = dict(msg["cache_control"])
    return block


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    fn = shapes.tool_function(tool)
    out: dict[str, Any] = {
        "name": fn["name"],
        "input_schema": fn.get("parameters") or {"type": "object", "properties": {}},
    }
    if fn.get("description"):
        out["description"] = fn["description"]
    marker = tool.get("cache_control") or fn.get("cache_control")
    if marker:
        out["cache_control"] = dict(marker)
    return out


def _tool_choice(choice: Any, parallel: Any) -> dict[str, Any] | None:
    if choice is None and parallel is None:
        return None
    if choice in (None, "auto"):
        out: dict[str, Any] = {"type": "auto"}
    elif choice == "none":
        return {"type": "none"}
    elif choice == "required":
        out = {"type": "any"}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        out = {"type": "tool", "name": choice["function"]["name"]}
    else:
        raise InvalidRequest(f"unsupported tool_choice {choice!r}", param="tool_choice")
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out


# --------------------------------------------------------------------------- response


def _usage(raw: dict[str, Any]) -> Usage:
    # Anthropic's input_tokens excludes cache reads and writes.
    return shapes.usage_with_cache(
        raw.get("input_tokens"),
        raw.get("output_tokens"),
        raw.get("cache_read_input_tokens"),
        raw.get("cache_creation_input_tokens"),
    )


def from_anthropic_message(raw: Any) -> ChatResult:
    if not isinstance(raw, dict) or raw.get("type") != "message" or not isinstance(raw.get("content"), list):
        raise shapes.MalformedReply(f"expected a message object, got {str(raw)[:200]!r}")
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in raw["content"]:
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            calls.append(shapes.tool_call(block["id"], block["name"], block.get("input")))
        # thinking / redacted_thinking / server tool blocks have no chat.completions equivalent.
    usage = _usage(raw.get("usage") or {})
    finish = _FINISH.get(raw.get("stop_reason") or "", "stop")
    choices = [shapes.choice(shapes.assistant_message(text, calls), finish)]
    return shapes.chat_result(raw.get("id") or shapes.completion_id(), raw.get("model", ""), choices, usage)


class _StreamTranslator(shapes.ChunkBuilder):
    """Anthropic SSE events -> OpenAI chat.completion.chunk dicts."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.usage_raw: dict[str, Any] = {}
        self.finish: FinishReason | None = None
        self.done = False
        self.started = False
        self._tools = shapes.StreamedToolCalls()  # keyed by content block index

    def feed(self, event: str, data: dict[str, Any]) -> list[dict[str, Any]]:
        kind = data.get("type", event)
        if kind == "error":
            err = data.get("error") or {}
            raise _StreamError(str(err.get("type", "api_error")), str(err.get("message", "")))
        if kind == "message_start":
            message = data["message"]
            self.id = message.get("id") or self.id
            self.model = message.get("model") or self.model
            self.usage_raw.update(message.get("usage") or {})
            self.started = True
            return [self.opening()]
        if not self.started:
            raise shapes.MalformedReply(f"'{kind}' before message_start")
        if kind == "content_block_start":
            block = data["content_block"]
            if block.get("type") == "tool_use":
                return [self.chunk(self._tools.start(data["index"], block["id"], block["name"]))]
            if block.get("type") == "text" and block.get("text"):
                return [self.chunk({"content": block["text"]})]
        elif kind == "content_block_delta":
            delta = data["delta"]
            if delta.get("type") == "text_delta":
                return [self.chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                return [self.chunk(self._tools.arguments(data["index"], delta["partial_json"]))]
        elif kind == "content_block_stop":
            closing = self._tools.stop(data.get("index", -1))
            if closing is not None:
                return [self.chunk(closing)]
        elif kind == "message_delta":
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                self.finish = _FINISH.get(reason, "stop")
            # message_delta usage counts are cumulative and win over message_start's.
            self.usage_raw.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self.done = True
            return [self.chunk({}, self.finish or "stop"), self.closing(_usage(self.usage_raw))]
        # ping, thinking/signature/citation deltas and unknown future events carry nothing for OpenAI.
        return []


async def _sse(resp: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """Minimal text/event-stream parser: yields (event, data) per dispatched event."""
    event = ""
    data: list[str] = []
    async for line in resp.aiter_lines():
        if not line:
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
    if data:
        yield event or "message", "\n".join(data)


# --------------------------------------------------------------------------- provider


class AnthropicProvider:
    def __init__(self, name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> None:
        self.name = name
        self._http = http
        base = (settings.base_url or DEFAULT_BASE_URL).rstrip("/")
        self._url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        options = settings.options
        self._default_max_tokens = int(options.get("default_max_tokens", DEFAULT_MAX_TOKENS))
        self._headers = {
            "anthropic-version": str(options.get("anthropic_version", DEFAULT_VERSION)),
            "content-type": "application/json",
            **settings.headers,
        }
        if settings.api_key:
            self._headers["x-api-key"] = settings.api_key
        beta = options.get("beta")
        if beta:
            self._headers["anthropic-beta"] = ",".join(beta) if isinstance(beta, list) else str(beta)
        self._timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)

    async def chat(self, body: dict[str, Any], model: str) -> ChatResult:
        request = to_anthropic_request(body, model, default_max_tokens=self._default_max_tokens)
        with _ERRORS:
            resp = await self._http.post(self._url, json=request, headers=self._headers, timeout=self._timeout)
            resp.raise_for_status()
            return from_anthropic_message(resp.json())

    async def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[dict[str, Any]]:
        request = {**to_anthropic_request(body, model, default_max_tokens=self._default_max_tokens), "stream": True}
        translator = _StreamTranslator(model)
        with _ERRORS:
            # The context manager closes the connection when the consumer stops early (cancel-safe).
            async with self._http.stream(
                "POST", self._url, json=request, headers=self._headers, timeout=self._timeout
            ) as resp:
                if resp.is_error:
                    await resp.aread()
                    resp.raise_for_status()
                async for event, data in _sse(resp):
                    for chunk in translator.feed(event, json.loads(data)):
                        yield chunk
                    if translator.done:
                        return
            raise shapes.MalformedReply("stream ended before message_stop")

    async def embed(self, inputs: list[str], model: str, *, kind: str = "passage") -> EmbedResult:
        raise InvalidRequest("Anthropic offers no embeddings; route embeddings to another provider", param="model")

    async def rerank(self, query: str, documents: list[str], model: str, top_n: int | None = None) -> RerankResult:
        raise InvalidRequest("Anthropic offers no rerank models; route reranking to another provider", param="model")

    async def aclose(self) -> None:
        # The HTTP client is injected and owned by the caller.
        return None


@register("anthropic")
def create(name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
    return AnthropicProvider(name, settings, http)
