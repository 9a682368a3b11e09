"""The Bedrock Converse wire shapes: an OpenAI chat request as a Converse request (messages,
images, documents, tools, prompt-cache points) and Converse replies — whole or as ConverseStream
events — as OpenAI chat completions and chunks. Pure translation: no client, no I/O
(`bedrock.py` calls the API)."""

from __future__ import annotations

import json
import mimetypes
from typing import Any

from gureum.errors import InvalidRequest
from gureum.providers import shapes
from gureum.providers.base import ChatResult, Usage
from gureum.providers.shapes import FinishReason

__all__ = ["StreamTranslator", "from_converse_response", "to_converse_request"]

_FINISH: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
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
        raise shapes.MalformedReply(f"no output.message.content in {str(raw)[:200]!r}") from exc
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


class StreamTranslator(shapes.ChunkBuilder):
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
            raise shapes.MalformedReply("stream ended before messageStop")
        return self.closing(self.usage or shapes.estimated_usage(body, "".join(self.text)))
