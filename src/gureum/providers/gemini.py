"""Google Gemini adapter (Gemini API or Vertex AI) through the google-genai SDK.

The SDK is handed gureum's injected `httpx.AsyncClient`, so connection pooling is shared and
tests fake only the HTTP edge, while the SDK keeps what is Google-specific: Vertex URLs and
credentials (ADC or a service-account file), and the embedding endpoints of each API.

Tool-call ids: Gemini rarely returns ids, and Gemini 3 needs each functionCall's
`thoughtSignature` back on the next turn. Both ride in the OpenAI tool-call id as
`<id>__thought__<base64 signature>` (the convention LiteLLM uses), so an ordinary OpenAI client
round-trips them without knowing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import mimetypes
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from google import genai
from google.auth.exceptions import GoogleAuthError
from google.genai import errors as genai_errors
from google.genai import types

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
from gureum.tokens import estimate_tokens

__all__ = ["GeminiProvider", "map_error", "to_gemini_request", "from_gemini_response"]

SIGNATURE_SEPARATOR = "__thought__"
# Ids we invent look like this; they are never sent back to Gemini, which did not issue them.
_GENERATED_ID = re.compile(r"^call_[0-9a-f]{32}$")

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
    "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "MODEL_ARMOR": "content_filter",
}

_TASK_TYPE = {"query": "RETRIEVAL_QUERY", "passage": "RETRIEVAL_DOCUMENT"}


# --------------------------------------------------------------------------- errors


def map_error(exc: Exception) -> GureumError:
    """The one place google-genai / transport failures become gureum errors (applied by `_ERRORS`)."""
    if isinstance(exc, genai_errors.APIError):
        code = int(exc.code or 0)
        status = str(exc.status or "")
        message = f"gemini {code} {status}: {exc.message or exc}"
        wait = retry_after(getattr(exc.response, "headers", None))
        if code == 429 or status == "RESOURCE_EXHAUSTED":
            return UpstreamRateLimited(message, upstream_status=429, headers=wait)
        if code in (408, 504) or status == "DEADLINE_EXCEEDED":
            return UpstreamTimeout(message, upstream_status=code or 504)
        if code >= 500 or code == 0:
            return UpstreamError(message, retriable=True, upstream_status=code or None, headers=wait)
        return UpstreamRejected(message, upstream_status=code)
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"gemini: timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return UpstreamError(f"gemini: connection failed ({type(exc).__name__}: {exc})", retriable=True)
    if isinstance(exc, GoogleAuthError):
        # Credentials are our configuration, not the request: another deployment may serve it.
        return UpstreamError(f"gemini: Google credentials failed ({exc})", retriable=True)
    if isinstance(exc, (shapes.MalformedReply, ValueError, KeyError, TypeError, AttributeError)):
        return UpstreamError(f"gemini: response is not the generateContent protocol ({exc})", retriable=True)
    return UpstreamError(f"gemini: {type(exc).__name__}: {exc}", retriable=True)


_ERRORS = map_errors(map_error)


# --------------------------------------------------------------------------- tool-call ids


def encode_call_id(call_id: str | None, signature: bytes | None) -> str:
    base = call_id or f"call_{uuid.uuid4().hex}"
    return f"{base}{SIGNATURE_SEPARATOR}{base64.b64encode(signature).decode()}" if signature else base


def decode_call_id(value: str) -> tuple[str | None, bytes | None]:
    """-> (the id to send Gemini or None if we invented it, the thought signature)."""
    base, _, encoded = value.partition(SIGNATURE_SEPARATOR)
    signature = None
    if encoded:
        try:
            signature = base64.b64decode(encoded, validate=True)
        except binascii.Error as exc:
            raise InvalidRequest(
                f"tool call id '{value[:40]}' carries a damaged thought signature", param="messages"
            ) from exc
    return (None if _GENERATED_ID.match(base) else base), signature


# --------------------------------------------------------------------------- request


def to_gemini_request(
    body: dict[str, Any], options: dict[str, Any] | None = None
) -> tuple[list[types.Content], types.GenerateContentConfig]:
    """Translate an OpenAI chat.completions body into generateContent contents + config."""
    with shapes.malformed_request():
        return _request(body, options or {})


def _request(body: dict[str, Any], options: dict[str, Any]) -> tuple[list[types.Content], types.GenerateContentConfig]:
    names = {
        c["id"]: (c.get("function") or {}).get("name", "")
        for m in body.get("messages") or []
        for c in m.get("tool_calls") or []
    }
    system, turns = shapes.split_messages(
        body.get("messages") or [],
        system=lambda msg: _parts(msg.get("content"), allow_media=False),
        user=lambda msg: _parts(msg.get("content")),
        assistant=_assistant_parts,
        tool=lambda msg: [_function_response(msg, names)],
        assistant_role="model",
    )
    contents = [types.Content(role=turn["role"], parts=turn["content"]) for turn in turns]
    config: dict[str, Any] = {
        # The SDK would otherwise try to execute Python callables itself; tools are the client's.
        "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
    }
    if system:
        config["system_instruction"] = types.Content(role="user", parts=system)
    max_tokens = shapes.max_tokens(body)
    if max_tokens is not None:
        config["max_output_tokens"] = max_tokens
    for key in ("temperature", "top_p", "presence_penalty", "frequency_penalty"):
        if body.get(key) is not None:
            config[key] = float(body[key])
    if body.get("seed") is not None:
        config["seed"] = int(body["seed"])
    if int(body.get("n") or 1) > 1:
        config["candidate_count"] = int(body["n"])
    stop = shapes.stop_sequences(body)
    if stop:
        config["stop_sequences"] = stop
    fmt = body.get("response_format") or {}
    if fmt.get("type") in ("json_object", "json_schema"):
        config["response_mime_type"] = "application/json"
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            config["response_json_schema"] = schema
    tools = body.get("tools") or []
    if tools:
        config["tools"] = [types.Tool(function_declarations=[_declaration(t) for t in tools])]
        tool_config = _tool_config(body.get("tool_choice"))
        if tool_config:
            config["tool_config"] = tool_config
    # Declarative pass-throughs for what OpenAI has no word for.
    for key in ("safety_settings", "thinking_config", "labels"):
        if options.get(key):
            config[key] = options[key]
    return contents, types.GenerateContentConfig(**config)


def _parts(content: Any, *, allow_media: bool = True) -> list[types.Part]:
    # `cache_control` markers are dropped: Gemini caches prompt prefixes implicitly.
    parts: list[types.Part] = []
    for part in shapes.content_parts(content):
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                parts.append(types.Part(text=part["text"]))
        elif kind == "image_url" and allow_media:
            parts.append(_media(shapes.image_url(part["image_url"])))
        elif kind == "file" and allow_media:
            parts.append(_media(shapes.inline_file_data(part["file"])))
        elif kind == "input_audio" and allow_media:
            audio = part["input_audio"]
            parts.append(_media(f"data:audio/{audio.get('format', 'wav')};base64,{audio['data']}"))
        else:
            raise InvalidRequest(f"content part type '{kind}' is not supported here", param="messages")
    return parts


def _media(url: str) -> types.Part:
    if url.startswith("data:"):
        parsed = shapes.parse_data_url(url)
        return types.Part(inline_data=types.Blob(mime_type=parsed.mime, data=parsed.data))
    if not url:
        raise InvalidRequest("a media part needs a URL or base64 data", param="messages")
    # gs://, Files API and (model permitting) https URIs are fetched by Google itself.
    mime = mimetypes.guess_type(url.split("?")[0])[0] or "application/octet-stream"
    return types.Part(file_data=types.FileData(file_uri=url, mime_type=mime))


def _assistant_parts(msg: dict[str, Any]) -> list[types.Part]:
    parts = _parts(shapes.content_parts(msg.get("content"), text_only=True), allow_media=False)
    for call in msg.get("tool_calls") or []:
        fn = call.get("function") or {}
        call_id, signature = decode_call_id(call["id"])
        arguments = shapes.tool_arguments(fn.get("arguments"))
        parts.append(
            types.Part(
                function_call=types.FunctionCall(id=call_id, name=fn.get("name", ""), args=arguments),
                thought_signature=signature,
            )
        )
    return parts


def _function_response(msg: dict[str, Any], names: dict[str, str]) -> types.Part:
    call_id = msg.get("tool_call_id") or ""
    if call_id not in names:
        raise InvalidRequest(f"tool message answers unknown tool_call_id '{call_id[:40]}'", param="messages")
    content = msg.get("content")
    text = "".join(p.get("text", "") for p in content) if isinstance(content, list) else str(content or "")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    # functionResponse.response must be an object; Google documents "output" for plain results.
    response = value if isinstance(value, dict) else {"output": value if value is not None else text}
    return types.Part(
        function_response=types.FunctionResponse(id=decode_call_id(call_id)[0], name=names[call_id], response=response)
    )


def _declaration(tool: dict[str, Any]) -> types.FunctionDeclaration:
    fn = shapes.tool_function(tool)
    # parametersJsonSchema takes full JSON Schema; `parameters` only an OpenAPI subset.
    return types.FunctionDeclaration(
        name=fn["name"], description=fn.get("description"), parameters_json_schema=fn.get("parameters")
    )


def _tool_config(choice: Any) -> types.ToolConfig | None:
    if choice is None:
        return None
    names: list[str] | None = None
    if choice == "auto":
        mode = types.FunctionCallingConfigMode.AUTO
    elif choice == "none":
        mode = types.FunctionCallingConfigMode.NONE
    elif choice == "required":
        mode = types.FunctionCallingConfigMode.ANY
    elif isinstance(choice, dict) and choice.get("type") == "function":
        mode, names = types.FunctionCallingConfigMode.ANY, [choice["function"]["name"]]
    else:
        raise InvalidRequest(f"unsupported tool_choice {choice!r}", param="tool_choice")
    return types.ToolConfig(
        function_calling_config=types.FunctionCallingConfig(mode=mode, allowed_function_names=names)
    )


# --------------------------------------------------------------------------- response


def _usage(meta: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    if meta is None:
        return Usage()
    # promptTokenCount already includes cachedContentTokenCount; thinking is billed as output.
    return Usage(
        prompt_tokens=(meta.prompt_token_count or 0) + (meta.tool_use_prompt_token_count or 0),
        completion_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
        cached_tokens=meta.cached_content_token_count or 0,
    )


def _finish(candidate: types.Candidate, has_calls: bool) -> FinishReason | None:
    if candidate.finish_reason is None:
        return None
    if has_calls:
        return "tool_calls"  # Gemini says STOP after a function call
    return _FINISH.get(getattr(candidate.finish_reason, "value", str(candidate.finish_reason)), "stop")


def _split(candidate: types.Candidate) -> tuple[list[str], list[dict[str, Any]]]:
    """A candidate's answer text pieces (never empty ones) and its tool calls in OpenAI's shape."""
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in (candidate.content.parts if candidate.content else None) or []:
        if part.thought:
            continue  # thought summaries are not answer text
        if part.text:
            text.append(part.text)
        if part.function_call:
            fc = part.function_call
            calls.append(shapes.tool_call(encode_call_id(fc.id, part.thought_signature), fc.name or "", fc.args))
    return text, calls


def from_gemini_response(resp: types.GenerateContentResponse, model: str) -> ChatResult:
    choices: list[dict[str, Any]] = []
    for position, candidate in enumerate(resp.candidates or []):
        text, calls = _split(candidate)
        finish = _finish(candidate, bool(calls)) or "stop"
        index = candidate.index if candidate.index is not None else position
        choices.append(shapes.choice(shapes.assistant_message(text, calls), finish, index))
    if not choices:
        feedback = resp.prompt_feedback
        if feedback is None or feedback.block_reason is None:
            raise shapes.MalformedReply("no candidates and no promptFeedback")
        # The prompt itself was blocked: an answer with nothing in it, flagged as filtered.
        choices = [shapes.choice(shapes.assistant_message([], []), "content_filter")]
    usage = _usage(resp.usage_metadata)
    return shapes.chat_result(shapes.completion_id(resp.response_id), resp.model_version or model, choices, usage)


class _StreamTranslator(shapes.ChunkBuilder):
    """streamGenerateContent chunks -> OpenAI chat.completion.chunk dicts (one choice per candidate)."""

    def __init__(self, model: str) -> None:
        super().__init__(model)
        self.usage: Usage | None = None
        self.text: list[str] = []  # kept only to estimate usage if usageMetadata never comes
        self._started: set[int] = set()
        self._calls: dict[int, int] = {}  # choice index -> tool calls so far
        self._finish: dict[int, FinishReason] = {}

    def feed(self, resp: types.GenerateContentResponse) -> list[dict[str, Any]]:
        if resp.response_id and not self._started:
            self.id = shapes.completion_id(resp.response_id)
        if resp.usage_metadata is not None:
            self.usage = _usage(resp.usage_metadata)  # cumulative: the last one is the total
        out: list[dict[str, Any]] = []
        if not resp.candidates and resp.prompt_feedback and resp.prompt_feedback.block_reason:
            # The prompt itself was blocked: an empty answer, flagged as filtered.
            if 0 not in self._started:
                self._started.add(0)
                out.append(self.opening())
            self._finish[0] = "content_filter"
        for position, candidate in enumerate(resp.candidates or []):
            index = candidate.index if candidate.index is not None else position
            if index not in self._started:
                self._started.add(index)
                out.append(self.opening(index))
            pieces, calls = _split(candidate)
            if pieces:
                text = "".join(pieces)
                self.text.append(text)
                out.append(self.chunk({"content": text}, index=index))
            for call in calls:
                # Gemini sends each function call whole, so one delta carries id, name and arguments.
                position_in_choice = self._calls.get(index, 0)
                self._calls[index] = position_in_choice + 1
                out.append(self.chunk({"tool_calls": [{"index": position_in_choice, **call}]}, index=index))
            finish = _finish(candidate, self._calls.get(index, 0) > 0)
            if finish:
                self._finish[index] = finish
        return out

    def final(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        if not self._finish:
            raise shapes.MalformedReply("stream ended without a finishReason")
        usage = self.usage or shapes.estimated_usage(body, "".join(self.text))
        out = [self.chunk({}, finish, index=index) for index, finish in sorted(self._finish.items())]
        out.append(self.closing(usage))
        return out


# --------------------------------------------------------------------------- provider


class GeminiProvider:
    def __init__(self, name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> None:
        self.name = name
        self._options = settings.options
        http_options = types.HttpOptions(
            base_url=settings.base_url,
            api_version=settings.api_version,
            headers=settings.headers or None,
            timeout=int(settings.timeout * 1000),  # the SDK counts milliseconds
            httpx_async_client=http,
        )
        kwargs: dict[str, Any] = {"http_options": http_options}
        if settings.project:
            kwargs.update(vertexai=True, project=settings.project, location=settings.region or "global")
            credentials_file = self._options.get("credentials_file")
            if credentials_file:
                from google.oauth2 import service_account

                kwargs["credentials"] = service_account.Credentials.from_service_account_file(  # type: ignore[no-untyped-call]
                    credentials_file, scopes=["https://www.googleapis.com/auth/cloud-platform"]
                )
        elif self._options.get("vertexai"):
            kwargs.update(vertexai=True, api_key=settings.api_key)  # Vertex AI express mode
        else:
            kwargs["api_key"] = settings.api_key
        try:
            self.client = genai.Client(**kwargs)
        except ValueError as exc:  # e.g. neither an API key nor a project
            raise InvalidRequest(f"provider '{name}': {exc}") from exc

    async def chat(self, body: dict[str, Any], model: str) -> ChatResult:
        contents, config = to_gemini_request(body, self._options)
        with _ERRORS:
            resp = await self.client.aio.models.generate_content(model=model, contents=contents, config=config)
            return from_gemini_response(resp, model)

    async def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[dict[str, Any]]:
        contents, config = to_gemini_request(body, self._options)
        translator = _StreamTranslator(model)
        with _ERRORS:
            responses = await self.client.aio.models.generate_content_stream(
                model=model, contents=contents, config=config
            )
            # aclosing: a consumer that stops early must close the HTTP response now, not at GC.
            async with contextlib.aclosing(responses):  # type: ignore[type-var]
                async for resp in responses:
                    for chunk in translator.feed(resp):
                        yield chunk
            for chunk in translator.final(body):
                yield chunk

    async def embed(self, inputs: list[str], model: str, *, kind: str = "passage") -> EmbedResult:
        config = types.EmbedContentConfig(
            task_type=_TASK_TYPE.get(kind), output_dimensionality=self._options.get("embed_dimensions")
        )
        batch = int(self._options.get("embed_batch_size", 100))  # batchEmbedContents takes at most 100
        vectors: list[list[float]] = []
        counted = 0
        with _ERRORS:
            for start in range(0, len(inputs), batch):
                resp = await self.client.aio.models.embed_content(
                    model=model, contents=inputs[start : start + batch], config=config
                )
                for embedding in resp.embeddings or []:
                    if embedding.values is None:
                        raise shapes.MalformedReply("embedding without values")
                    vectors.append(list(embedding.values))
                    if embedding.statistics and embedding.statistics.token_count:
                        counted += int(embedding.statistics.token_count)  # Vertex reports per input
        # The Gemini API reports no token count for embeddings: fall back to gureum's estimate.
        if len(vectors) != len(inputs):
            raise UpstreamError(f"gemini: asked for {len(inputs)} embeddings, got {len(vectors)}", retriable=True)
        return EmbedResult(
            vectors=vectors, usage=Usage(prompt_tokens=counted or sum(estimate_tokens(t) for t in inputs))
        )

    async def rerank(self, query: str, documents: list[str], model: str, top_n: int | None = None) -> RerankResult:
        # Vertex AI's ranking API is a separate service (Discovery Engine), not a model behind this SDK.
        raise InvalidRequest("Gemini has no rerank models; route reranking to another provider", param="model")

    async def aclose(self) -> None:
        # Closes only what the SDK made for itself (its idle sync client); the injected httpx
        # client stays open for its owner.
        await self.client.aio.aclose()
        self.client.close()


@register("gemini")
def create(name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
    return GeminiProvider(name, settings, http)
