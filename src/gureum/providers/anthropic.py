"""Anthropic Messages API adapter.

Speaks HTTP directly over the injected `httpx.AsyncClient` (no SDK), so the whole protocol is
visible here and tests fake only the HTTP edge. OpenAI chat.completions in, Messages API out,
and back: system prompt, multi-part content (text, images, PDFs), tool use, streaming SSE,
prompt-cache markers (`cache_control`) and usage with cache read/write tokens.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import AsyncIterator
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
from gureum.providers.base import ChatResult, EmbedResult, Provider, ProviderSettings, Usage
from gureum.providers.registry import register

__all__ = ["AnthropicProvider", "map_error", "to_anthropic_request", "from_anthropic_message"]

DEFAULT_BASE_URL = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
# The Messages API requires max_tokens; OpenAI does not. Used when the client sends none.
DEFAULT_MAX_TOKENS = 4096

_FINISH = {
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


class _Garbage(Exception):
    """A 2xx answer that is not the Messages protocol."""


# --------------------------------------------------------------------------- errors


def map_error(exc: BaseException) -> GureumError:
    """The one place Anthropic failures become gureum errors."""
    if isinstance(exc, GureumError):
        return exc
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
        return _by_status(status, f"anthropic stream error {exc.err_type}: {exc.message}", httpx.Headers())
    if isinstance(exc, (_Garbage, ValueError, KeyError, TypeError, AttributeError)):
        return UpstreamError(f"anthropic: response is not the Messages protocol ({exc})", retriable=True)
    return UpstreamError(f"anthropic: {type(exc).__name__}: {exc}", retriable=True)


def _by_status(status: int, message: str, headers: httpx.Headers) -> GureumError:
    retry_after = {"retry-after": headers["retry-after"]} if "retry-after" in headers else {}
    if status == 429:
        return UpstreamRateLimited(message, upstream_status=429, headers=retry_after)
    if status in (408, 504):
        return UpstreamTimeout(message, upstream_status=status)
    # 409 (conflict) is documented as transient; 5xx and 529 (overloaded) are the provider's problem.
    if status == 409 or status >= 500:
        return UpstreamError(message, retriable=True, upstream_status=status, headers=retry_after)
    if 400 <= status < 500:
        return UpstreamRejected(message, upstream_status=status)
    return UpstreamError(message, retriable=True, upstream_status=status)


def _error_detail(resp: httpx.Response) -> tuple[str, str]:
    try:
        err = resp.json()["error"]
        return str(err.get("type", "error")), str(err.get("message", ""))
    except Exception:  # an HTML page from a proxy, an empty body...
        return "error", resp.text[:200] or resp.reason_phrase


# --------------------------------------------------------------------------- request


def to_anthropic_request(
    body: dict[str, Any], model: str, *, default_max_tokens: int = DEFAULT_MAX_TOKENS
) -> dict[str, Any]:
    """Translate an OpenAI chat.completions body into a Messages API body."""
    try:
        return _request(body, model, default_max_tokens)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        # A malformed body (a tool call without id, a part without its payload) is the client's error.
        raise InvalidRequest(f"malformed chat request: {type(exc).__name__}: {exc}", param="messages") from exc


def _request(body: dict[str, Any], model: str, default_max_tokens: int) -> dict[str, Any]:
    if int(body.get("n") or 1) != 1:
        raise InvalidRequest("n > 1 is not supported by this provider", param="n")
    system: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []
    for msg in body.get("messages") or []:
        role = msg.get("role")
        if role in ("system", "developer"):
            # Anthropic has one top-level system prompt; instructions given mid-conversation join it.
            system.extend(_blocks(msg.get("content"), msg.get("cache_control"), allow_media=False))
        elif role == "user":
            _append(messages, "user", _blocks(msg.get("content"), msg.get("cache_control")))
        elif role == "assistant":
            _append(messages, "assistant", _assistant_blocks(msg))
        elif role == "tool":
            _append(messages, "user", [_tool_result(msg)])
        else:
            raise InvalidRequest(f"unsupported message role '{role}'", param="messages")

    out: dict[str, Any] = {
        "model": model,
        "messages": messages,
        "max_tokens": int(body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens),
    }
    if system:
        out["system"] = system
    if body.get("temperature") is not None:
        # OpenAI allows 0..2, Anthropic 0..1: clamp rather than have the provider refuse.
        out["temperature"] = min(float(body["temperature"]), 1.0)
    if body.get("top_p") is not None:
        out["top_p"] = float(body["top_p"])
    stop = body.get("stop")
    if stop:
        out["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)
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


def _append(messages: list[dict[str, Any]], role: str, blocks: list[dict[str, Any]]) -> None:
    # Consecutive tool results (one OpenAI message each) must arrive as one user turn.
    if not blocks:
        return
    if messages and messages[-1]["role"] == role:
        messages[-1]["content"].extend(blocks)
    else:
        messages.append({"role": role, "content": blocks})


def _blocks(content: Any, cache_control: Any = None, *, allow_media: bool = True) -> list[dict[str, Any]]:
    """OpenAI content (str or parts) -> Anthropic content blocks. A message-level
    `cache_control` marks the message's last block, as LiteLLM accepts it."""
    parts: list[dict[str, Any]] = (
        [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
    )
    blocks: list[dict[str, Any]] = []
    for part in parts:
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
    url = image_url if isinstance(image_url, str) else image_url["url"]
    if url.startswith("data:"):
        mime, data = _data_url(url)
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _document(file: dict[str, Any]) -> dict[str, Any]:
    data_url = file.get("file_data") or ""
    if not data_url.startswith("data:"):
        raise InvalidRequest("file parts need inline file_data (a base64 data URL)", param="messages")
    mime, data = _data_url(data_url)
    if mime != "application/pdf":
        raise InvalidRequest(f"file type '{mime}' is not supported (PDF only)", param="messages")
    return {"type": "document", "source": {"type": "base64", "media_type": mime, "data": data}}


def _data_url(url: str) -> tuple[str, str]:
    header, _, data = url.partition(",")
    mime = header[5:].split(";")[0] or "application/octet-stream"
    if ";base64" not in header:
        raise InvalidRequest("only base64 data URLs are supported", param="messages")
    try:
        base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise InvalidRequest(f"invalid base64 in data URL: {exc}", param="messages") from exc
    return mime, data


def _assistant_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    content = msg.get("content")
    if isinstance(content, list):
        content = [p for p in content if p.get("type") == "text"]  # drop "refusal" parts
    blocks = _blocks(content, None, allow_media=False)
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        blocks.append(
            {"type": "tool_use", "id": call["id"], "name": fn.get("name", ""), "input": _arguments(fn.get("arguments"))}
        )
    if msg.get("cache_control") and blocks:
        blocks[-1]["cache_control"] = dict(msg["cache_control"])
    return blocks


def _arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"tool call arguments are not valid JSON: {exc}", param="messages") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("tool call arguments must be a JSON object", param="messages")
    return value


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
    if tool.get("type", "function") != "function":
        raise InvalidRequest(f"tool type '{tool.get('type')}' is not supported", param="tools")
    fn = tool["function"]
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
    # Anthropic's input_tokens excludes cache reads and writes; OpenAI's prompt_tokens includes them.
    read = int(raw.get("cache_read_input_tokens") or 0)
    write = int(raw.get("cache_creation_input_tokens") or 0)
    return Usage(
        prompt_tokens=int(raw.get("input_tokens") or 0) + read + write,
        completion_tokens=int(raw.get("output_tokens") or 0),
        cached_tokens=read,
        cache_write_tokens=write,
    )


def usage_dict(usage: Usage) -> dict[str, Any]:
    """OpenAI usage, plus the cache-write count (not in OpenAI's schema) so accounting downstream
    of a stream can still price it."""
    out = usage.to_openai()
    if usage.cache_write_tokens:
        out.setdefault("prompt_tokens_details", {"cached_tokens": usage.cached_tokens})
        out["prompt_tokens_details"]["cache_write_tokens"] = usage.cache_write_tokens
    return out


def from_anthropic_message(raw: Any) -> ChatResult:
    if not isinstance(raw, dict) or raw.get("type") != "message" or not isinstance(raw.get("content"), list):
        raise _Garbage(f"expected a message object, got {str(raw)[:200]!r}")
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in raw["content"]:
        if block.get("type") == "text":
            text.append(block.get("text", ""))
        elif block.get("type") == "tool_use":
            args = json.dumps(block.get("input") or {}, ensure_ascii=False)
            calls.append(
                {"id": block["id"], "type": "function", "function": {"name": block["name"], "arguments": args}}
            )
        # thinking / redacted_thinking / server tool blocks have no chat.completions equivalent.
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    usage = _usage(raw.get("usage") or {})
    finish = _FINISH.get(raw.get("stop_reason") or "", "stop")
    body = {
        "id": raw.get("id") or f"chatcmpl-{uuid.uuid4().hex}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": raw.get("model", ""),
        "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
        "usage": usage_dict(usage),
    }
    return ChatResult(body=body, usage=usage)


class _StreamTranslator:
    """Anthropic SSE events -> OpenAI chat.completion.chunk dicts."""

    def __init__(self, model: str) -> None:
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.model = model
        self.created = int(time.time())
        self.usage_raw: dict[str, Any] = {}
        self.finish: str | None = None
        self.done = False
        self.started = False
        self._tools: dict[int, int] = {}  # content block index -> OpenAI tool call index
        self._tool_args_sent: set[int] = set()

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

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
            return [self.chunk({"role": "assistant", "content": ""})]
        if not self.started:
            raise _Garbage(f"'{kind}' before message_start")
        if kind == "content_block_start":
            block = data["content_block"]
            if block.get("type") == "tool_use":
                index = self._tools[data["index"]] = len(self._tools)
                call = {
                    "index": index,
                    "id": block["id"],
                    "type": "function",
                    "function": {"name": block["name"], "arguments": ""},
                }
                return [self.chunk({"tool_calls": [call]})]
            if block.get("type") == "text" and block.get("text"):
                return [self.chunk({"content": block["text"]})]
        elif kind == "content_block_delta":
            delta = data["delta"]
            if delta.get("type") == "text_delta":
                return [self.chunk({"content": delta.get("text", "")})]
            if delta.get("type") == "input_json_delta" and delta.get("partial_json"):
                index = self._tools[data["index"]]
                self._tool_args_sent.add(index)
                return [
                    self.chunk({"tool_calls": [{"index": index, "function": {"arguments": delta["partial_json"]}}]})
                ]
        elif kind == "content_block_stop":
            closing = self._tools.get(data.get("index", -1))
            if closing is not None and closing not in self._tool_args_sent:
                # A tool without arguments streams no deltas; clients still expect parseable JSON.
                return [self.chunk({"tool_calls": [{"index": closing, "function": {"arguments": "{}"}}]})]
        elif kind == "message_delta":
            reason = (data.get("delta") or {}).get("stop_reason")
            if reason:
                self.finish = _FINISH.get(reason, "stop")
            # message_delta usage counts are cumulative and win over message_start's.
            self.usage_raw.update({k: v for k, v in (data.get("usage") or {}).items() if v is not None})
        elif kind == "message_stop":
            self.done = True
            usage = usage_dict(_usage(self.usage_raw))
            return [self.chunk({}, self.finish or "stop"), {**self.chunk({}), "choices": [], "usage": usage}]
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
        try:
            resp = await self._http.post(self._url, json=request, headers=self._headers, timeout=self._timeout)
            resp.raise_for_status()
            return from_anthropic_message(resp.json())
        except Exception as exc:
            raise map_error(exc) from exc

    async def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[dict[str, Any]]:
        request = {**to_anthropic_request(body, model, default_max_tokens=self._default_max_tokens), "stream": True}
        translator = _StreamTranslator(model)
        try:
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
            raise _Garbage("stream ended before message_stop")
        except Exception as exc:
            raise map_error(exc) from exc

    async def embed(self, inputs: list[str], model: str, *, kind: str = "passage") -> EmbedResult:
        raise InvalidRequest("Anthropic offers no embeddings; route embeddings to another provider", param="model")

    async def aclose(self) -> None:
        # The HTTP client is injected and owned by the caller.
        return None


@register("anthropic")
def create(name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
    return AnthropicProvider(name, settings, http)
