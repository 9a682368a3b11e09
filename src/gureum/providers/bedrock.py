"""AWS Bedrock adapter: Converse / ConverseStream for chat, InvokeModel for embeddings.

boto3 is synchronous, so every call runs on a small thread pool owned by the provider, and a
ConverseStream is pumped by one thread into an asyncio queue. Credentials come from the usual
boto3 chain (env, profile, instance role, or `AWS_BEARER_TOKEN_BEDROCK` for Bedrock API keys);
the SDK's own retries are off because gureum's router retries and falls back.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import botocore.exceptions as bx
import httpx
from botocore.config import Config
from botocore.parsers import ResponseParserError

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
from gureum.providers.registry import register
from gureum.providers.shapes import FinishReason
from gureum.tokens import estimate_tokens

__all__ = ["BedrockProvider", "map_error", "to_converse_request", "from_converse_response"]

T = TypeVar("T")

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

# Error codes compared lower-cased: ConverseStream reports them camelCase ("throttlingException").
_RATE_LIMITED = {"throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception"}
_TIMEOUT = {"modeltimeoutexception", "requesttimeout", "requesttimeoutexception"}
_RETRIABLE = {
    "internalserverexception",
    "serviceunavailableexception",
    "modelnotreadyexception",
    "modelstreamerrorexception",
    "modelerrorexception",
    "internalfailure",
    "serviceunavailable",
}
_REJECTED = {
    "validationexception": 400,
    "accessdeniedexception": 403,
    "unrecognizedclientexception": 403,
    "invalidsignatureexception": 403,
    "expiredtokenexception": 403,
    "resourcenotfoundexception": 404,
}

_IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
_DOC_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "text/plain": "txt",
    "text/html": "html",
    "text/markdown": "md",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
}


class _Garbage(Exception):
    """A reply that is not the Converse protocol."""


# --------------------------------------------------------------------------- errors


def map_error(exc: BaseException) -> GureumError:
    """The one place boto3/botocore failures become gureum errors."""
    if isinstance(exc, GureumError):
        return exc
    if isinstance(exc, bx.ClientError):  # includes EventStreamError raised mid-stream
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "")
        status = int((exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode") or 0) or None
        message = f"bedrock {code}: {error.get('Message') or exc}"
        key = code.lower()
        if key in _RATE_LIMITED or (status == 429 and key not in _RETRIABLE):
            return UpstreamRateLimited(message, upstream_status=429)
        if key in _TIMEOUT or status in (408, 504):
            return UpstreamTimeout(message, upstream_status=status or 408)
        if key in _RETRIABLE or (status or 0) >= 500:
            return UpstreamError(message, retriable=True, upstream_status=status)
        if key in _REJECTED or (status is not None and 400 <= status < 500):
            return UpstreamRejected(message, upstream_status=_REJECTED.get(key, status or 400))
        return UpstreamError(message, retriable=True, upstream_status=status)
    if isinstance(exc, (bx.ReadTimeoutError, bx.ConnectTimeoutError)):
        return UpstreamTimeout(f"bedrock: timed out ({type(exc).__name__})")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.HTTPClientError, ConnectionError)):
        return UpstreamError(f"bedrock: connection failed ({exc})", retriable=True)
    if isinstance(exc, bx.NoCredentialsError):
        # Our configuration, not the request: another deployment may still serve it.
        return UpstreamError(f"bedrock: no AWS credentials ({exc})", retriable=True)
    if isinstance(exc, bx.ParamValidationError):
        return InvalidRequest(f"bedrock: request not accepted by the Converse schema: {exc}", param="messages")
    if isinstance(exc, (_Garbage, ResponseParserError, ValueError, KeyError, TypeError, AttributeError)):
        return UpstreamError(f"bedrock: response is not the Converse protocol ({exc})", retriable=True)
    return UpstreamError(f"bedrock: {type(exc).__name__}: {exc}", retriable=True)


# --------------------------------------------------------------------------- request


def to_converse_request(body: dict[str, Any], model: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Translate an OpenAI chat.completions body into Converse keyword arguments."""
    with shapes.malformed_request():
        return _request(body, model, options or {})


def _request(body: dict[str, Any], model: str, options: dict[str, Any]) -> dict[str, Any]:
    shapes.require_one_choice(body)
    system, messages = shapes.split_messages(
        body.get("messages") or [],
        system=lambda msg: _blocks(msg.get("content"), msg.get("cache_control"), allow_media=False),
        user=lambda msg: _blocks(msg.get("content"), msg.get("cache_control")),
        assistant=_assistant_blocks,
        tool=_tool_result,
    )
    out: dict[str, Any] = {"modelId": model, "messages": messages}
    if system:
        out["system"] = system
    inference: dict[str, Any] = {}
    max_tokens = shapes.max_tokens(body)
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    if body.get("temperature") is not None:
        inference["temperature"] = float(body["temperature"])
    if body.get("top_p") is not None:
        inference["topP"] = float(body["top_p"])
    stop = shapes.stop_sequences(body)
    if stop:
        inference["stopSequences"] = stop
    if inference:
        out["inferenceConfig"] = inference
    tool_config = _tool_config(body, messages)
    if tool_config:
        out["toolConfig"] = tool_config
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        schema = {
            "schema": json.dumps(spec.get("schema") or {"type": "object"}),
            "name": spec.get("name") or "response",
        }
        if spec.get("description"):
            schema["description"] = spec["description"]
        out["outputConfig"] = {"textFormat": {"type": "json_schema", "structure": {"jsonSchema": schema}}}
    # Declarative pass-throughs for what OpenAI has no word for (top_k, guardrails, latency tier).
    for option, key in (
        ("additional_model_request_fields", "additionalModelRequestFields"),
        ("guardrail_config", "guardrailConfig"),
        ("performance_config", "performanceConfig"),
    ):
        if options.get(option):
            out[key] = options[option]
    return out


def _cache_point(marker: Any) -> dict[str, Any]:
    # LiteLLM-style {"type": "ephemeral", "ttl": "1h"} -> a Converse cachePoint block.
    point: dict[str, Any] = {"type": "default"}
    if isinstance(marker, dict) and marker.get("ttl"):
        point["ttl"] = marker["ttl"]
    return {"cachePoint": point}


def _blocks(content: Any, cache_control: Any = None, *, allow_media: bool = True) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in shapes.content_parts(content):
        kind = part.get("type")
        if kind == "text":
            if not part.get("text"):
                continue  # Converse rejects blank text blocks
            blocks.append({"text": part["text"]})
        elif kind == "image_url" and allow_media:
            blocks.append(_image(part["image_url"]))
        elif kind == "file" and allow_media:
            blocks.append(_document(part["file"], len(blocks)))
        else:
            raise InvalidRequest(f"content part type '{kind}' is not supported here", param="messages")
        if part.get("cache_control"):
            blocks.append(_cache_point(part["cache_control"]))
    if cache_control and blocks:
        blocks.append(_cache_point(cache_control))
    return blocks


def _image(image_url: dict[str, Any] | str) -> dict[str, Any]:
    url = shapes.image_url(image_url)
    if url.startswith("data:"):
        mime, data = _data_url(url)
        fmt = _IMAGE_FORMATS.get(mime)
        if not fmt:
            raise InvalidRequest(f"image type '{mime}' is not supported (png, jpeg, gif, webp)", param="messages")
        return {"image": {"format": fmt, "source": {"bytes": data}}}
    if url.startswith("s3://"):
        fmt = _IMAGE_FORMATS.get(mimetypes.guess_type(url)[0] or "")
        if not fmt:
            raise InvalidRequest("cannot tell the image format from the S3 key's extension", param="messages")
        return {"image": {"format": fmt, "source": {"s3Location": {"uri": url}}}}
    raise InvalidRequest("Bedrock takes images as base64 data URLs or s3:// URIs, not web URLs", param="messages")


def _document(file: dict[str, Any], position: int) -> dict[str, Any]:
    mime, data = _data_url(shapes.inline_file_data(file))
    fmt = _DOC_FORMATS.get(mime)
    if not fmt:
        raise InvalidRequest(f"document type '{mime}' is not supported", param="messages")
    # Converse document names allow only letters, digits, spaces, hyphens, parentheses, brackets.
    stem = (file.get("filename") or f"document {position + 1}").rsplit(".", 1)[0]
    name = "".join(c if c.isalnum() or c in " -()[]" else " " for c in stem).strip() or "document"
    return {"document": {"format": fmt, "name": name, "source": {"bytes": data}}}


def _data_url(url: str) -> tuple[str, bytes]:
    # boto3 wants raw bytes and base64-encodes them on the wire itself.
    parsed = shapes.parse_data_url(url)
    return parsed.mime.lower(), parsed.data


def _assistant_blocks(msg: dict[str, Any]) -> list[dict[str, Any]]:
    blocks = _blocks(shapes.content_parts(msg.get("content"), text_only=True), None, allow_media=False)
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        arguments = shapes.tool_arguments(fn.get("arguments"))
        blocks.append({"toolUse": {"toolUseId": call["id"], "name": fn.get("name", ""), "input": arguments}})
    if msg.get("cache_control") and blocks:
        blocks.append(_cache_point(msg["cache_control"]))
    return blocks


def _tool_result(msg: dict[str, Any]) -> list[dict[str, Any]]:
    content = msg.get("content")
    marker = msg.get("cache_control")
    if isinstance(content, list):
        # A cachePoint cannot sit inside a toolResult; it goes right after it in the turn.
        inner = [b for b in _blocks(content) if "cachePoint" not in b]
        marker = marker or next((p["cache_control"] for p in content if p.get("cache_control")), None)
    else:
        inner = [{"text": str(content or "")}] if content else []
    # Blank results are refused by Converse; a single space keeps the turn well-formed.
    blocks: list[dict[str, Any]] = [
        {"toolResult": {"toolUseId": msg.get("tool_call_id"), "content": inner or [{"text": " "}]}}
    ]
    if marker:
        blocks.append(_cache_point(marker))
    return blocks


def _tool_config(body: dict[str, Any], messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    uses_tools = any("toolUse" in b or "toolResult" in b for m in messages for b in m["content"])
    # Converse has no "none" choice; declaring no tools is the equivalent, unless the history holds
    # tool blocks (then the tools must stay declared and the model may still call one).
    if not tools or (choice == "none" and not uses_tools):
        return None
    specs: list[dict[str, Any]] = []
    for tool in tools:
        fn = shapes.tool_function(tool)
        spec: dict[str, Any] = {
            "name": fn["name"],
            "inputSchema": {"json": fn.get("parameters") or {"type": "object", "properties": {}}},
        }
        if fn.get("description"):
            spec["description"] = fn["description"]
        specs.append({"toolSpec": spec})
        marker = tool.get("cache_control") or fn.get("cache_control")
        if marker:
            specs.append(_cache_point(marker))
    config: dict[str, Any] = {"tools": specs}
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif isinstance(choice, dict) and choice.get("type") == "function":
        config["toolChoice"] = {"tool": {"name": choice["function"]["name"]}}
    elif choice not in (None, "none"):
        raise InvalidRequest(f"unsupported tool_choice {choice!r}", param="tool_choice")
    return config


# --------------------------------------------------------------------------- response


def _usage(raw: dict[str, Any]) -> Usage:
    # inputTokens excludes cache reads/writes (AWS prompt-caching semantics).
    return shapes.usage_with_cache(
        raw.get("inputTokens"), raw.get("outputTokens"), raw.get("cacheReadInputTokens"), raw.get("cacheWriteInputTokens")
    )


def from_converse_response(raw: dict[str, Any], model: str) -> ChatResult:
    try:
        blocks = raw["output"]["message"]["content"]
    except (KeyError, TypeError) as exc:
        raise _Garbage(f"no output.message.content in {str(raw)[:200]!r}") from exc
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in blocks:
        if "text" in block:
            text.append(block["text"])
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(shapes.tool_call(use["toolUseId"], use["name"], use.get("input")))
        # reasoningContent / citations have no chat.completions field.
    usage = _usage(raw.get("usage") or {})
    finish = _FINISH.get(raw.get("stopReason") or "", "stop")
    choices = [shapes.choice(shapes.assistant_message(text, calls), finish)]
    request_id = (raw.get("ResponseMetadata") or {}).get("RequestId")
    return shapes.chat_result(shapes.completion_id(request_id), model, choices, usage)


class _StreamTranslator(shapes.ChunkBuilder):
    """ConverseStream events -> OpenAI chat.completion.chunk dicts."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.finish: FinishReason | None = None
        self.usage: Usage | None = None
        self.text: list[str] = []  # kept only to estimate usage if the metadata event never comes
        self._tools = shapes.StreamedToolCalls()  # keyed by contentBlockIndex

    def feed(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        if "messageStart" in event:
            return [self.opening()]
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            use = (start.get("start") or {}).get("toolUse")
            if use:
                return [self.chunk(self._tools.start(start["contentBlockIndex"], use["toolUseId"], use["name"]))]
        elif "contentBlockDelta" in event:
            body = event["contentBlockDelta"]
            delta = body["delta"]
            if "text" in delta:
                self.text.append(delta["text"])
                return [self.chunk({"content": delta["text"]})]
            if "toolUse" in delta and delta["toolUse"].get("input"):
                return [self.chunk(self._tools.arguments(body["contentBlockIndex"], delta["toolUse"]["input"]))]
        elif "contentBlockStop" in event:
            closing = self._tools.stop(event["contentBlockStop"].get("contentBlockIndex", -1))
            if closing is not None:
                return [self.chunk(closing)]
        elif "messageStop" in event:
            self.finish = _FINISH.get(event["messageStop"].get("stopReason") or "", "stop")
            return [self.chunk({}, self.finish)]
        elif "metadata" in event:
            self.usage = _usage(event["metadata"].get("usage") or {})
        return []

    def final(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.finish is None:
            raise _Garbage("stream ended before messageStop")
        return self.closing(self.usage or shapes.estimated_usage(body, "".join(self.text)))


# --------------------------------------------------------------------------- provider


class BedrockProvider:
    def __init__(self, name: str, settings: ProviderSettings, http: httpx.AsyncClient, client: Any = None) -> None:
        self.name = name
        options = settings.options
        # A dedicated pool: a stream holds its thread for the whole answer, and the default executor
        # (shared with everything else in the process) is far too small for a gateway.
        workers = int(options.get("max_concurrency", 64))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bedrock-{name}")
        self._options = options
        self.client = client or self._make_client(name, settings, workers)

    @staticmethod
    def _make_client(name: str, settings: ProviderSettings, workers: int) -> Any:
        options = settings.options
        session = boto3.session.Session(
            profile_name=options.get("profile"),
            aws_access_key_id=options.get("aws_access_key_id"),
            aws_secret_access_key=options.get("aws_secret_access_key"),
            aws_session_token=options.get("aws_session_token"),
            region_name=settings.region,
        )
        config = Config(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=workers,
            user_agent_extra="gureum",
        )
        try:
            return session.client("bedrock-runtime", endpoint_url=settings.base_url, config=config)
        except bx.NoRegionError as exc:
            raise InvalidRequest(f"provider '{name}': set `region` for Bedrock") from exc

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # A cancelled await returns at once, but boto3 cannot be interrupted: the thread finishes
        # its call (bounded by read_timeout) and the answer is dropped.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def chat(self, body: dict[str, Any], model: str) -> ChatResult:
        request = to_converse_request(body, model, self._options)
        try:
            raw = await self._run(self.client.converse, **request)
            return from_converse_response(raw, model)
        except Exception as exc:
            raise map_error(exc) from exc

    async def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[dict[str, Any]]:
        request = to_converse_request(body, model, self._options)
        loop = asyncio.get_running_loop()
        # Unbounded is fine: an answer is bounded by max tokens, and the pump must never block
        # on a consumer that has gone away.
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        holder: dict[str, Any] = {}

        def put(item: tuple[str, Any]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone; nobody is listening
                stop.set()

        def pump() -> None:
            try:
                events = self.client.converse_stream(**request)["stream"]
                holder["events"] = events
                if stop.is_set():
                    events.close()
                    return
                for event in events:
                    if stop.is_set():
                        break
                    put(("event", event))
                put(("end", None))
            except Exception as exc:
                put(("error", exc))
            finally:
                if "events" in holder:
                    holder["events"].close()

        translator = _StreamTranslator(model)
        try:
            loop.run_in_executor(self._pool, pump)
            while True:
                kind, item = await queue.get()
                if kind == "error":
                    raise item
                if kind == "end":
                    break
                for chunk in translator.feed(item):
                    yield chunk
            yield translator.final(body)
        except Exception as exc:
            raise map_error(exc) from exc
        finally:
            # Consumer finished, failed or was cancelled: stop the pump and drop the connection,
            # which unblocks a thread waiting on the socket.
            stop.set()
            if "events" in holder:
                holder["events"].close()

    async def embed(self, inputs: list[str], model: str, *, kind: str = "passage") -> EmbedResult:
        try:
            if model.startswith("cohere.embed") or ".cohere.embed" in model:
                return await self._embed_cohere(inputs, model, kind)
            if "titan-embed" in model:
                return await self._embed_titan(inputs, model)
        except Exception as exc:
            raise map_error(exc) from exc
        raise InvalidRequest(f"embedding model '{model}' is not supported (Titan or Cohere embed)", param="model")

    async def _invoke(self, model: str, payload: dict[str, Any]) -> tuple[dict[str, Any], int]:
        raw = await self._run(
            self.client.invoke_model,
            modelId=model,
            body=json.dumps(payload),
            contentType="application/json",
            accept="application/json",
        )
        data = json.loads(raw["body"].read())
        headers = (raw.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
        return data, int(headers.get("x-amzn-bedrock-input-token-count") or 0)

    async def _embed_titan(self, inputs: list[str], model: str) -> EmbedResult:
        # Titan embeds one text per call; run them side by side on the pool.
        extra = {k: self._options[f"embed_{k}"] for k in ("dimensions", "normalize") if f"embed_{k}" in self._options}
        results = await asyncio.gather(*(self._invoke(model, {"inputText": text, **extra}) for text in inputs))
        vectors = [[float(x) for x in data["embedding"]] for data, _ in results]
        tokens = sum(int(data.get("inputTextTokenCount") or header) for data, header in results)
        return EmbedResult(vectors=vectors, usage=Usage(prompt_tokens=tokens))

    async def _embed_cohere(self, inputs: list[str], model: str, kind: str) -> EmbedResult:
        input_type = "search_query" if kind == "query" else "search_document"
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(inputs), 96):  # Cohere's per-call limit
            data, header = await self._invoke(
                model, {"texts": inputs[start : start + 96], "input_type": input_type, "truncate": "END"}
            )
            embeddings = data["embeddings"]
            if isinstance(embeddings, dict):  # embed-v4 / embedding_types answers {"float": [...]}
                embeddings = embeddings["float"]
            vectors.extend([float(x) for x in row] for row in embeddings)
            # Cohere's body has no count; Bedrock's header does. Estimate if a proxy dropped it.
            tokens += header or sum(estimate_tokens(t) for t in inputs[start : start + 96])
        return EmbedResult(vectors=vectors, usage=Usage(prompt_tokens=tokens))

    async def rerank(self, query: str, documents: list[str], model: str, top_n: int | None = None) -> RerankResult:
        raise InvalidRequest("Bedrock's Rerank API (bedrock-agent-runtime) is not mapped; route reranking to "
                             "another provider", param="model")

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@register("bedrock")
def create(name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
    return BedrockProvider(name, settings, http)
