"""Bedrock's Converse / ConverseStream / InvokeModel wire format, as botocore receives it."""

from __future__ import annotations

import binascii
import json
import struct
from typing import Any

from tests.support.wire.base import Call, Reply, Tokens, halves, json_reply, retry_after_header, tool_result


# The error code Bedrock answers for each HTTP status (it answers a bad key with 403).
_BEDROCK_ERROR = {400: ("ValidationException", 400), 401: ("UnrecognizedClientException", 403),
                  403: ("AccessDeniedException", 403), 404: ("ResourceNotFoundException", 404),
                  408: ("ModelTimeoutException", 408), 429: ("ThrottlingException", 429),
                  500: ("InternalServerException", 500), 503: ("ServiceUnavailableException", 503)}
_BEDROCK_STREAM_ERROR = {429: "throttlingException", 500: "internalServerException",
                         503: "serviceUnavailableException", 400: "validationException"}
_EVENTSTREAM = {"content-type": "application/vnd.amazon.eventstream"}


def _header(name: str, value: str) -> bytes:
    n, v = name.encode(), value.encode()
    return struct.pack("B", len(n)) + n + b"\x07" + struct.pack(">H", len(v)) + v  # 7 = string


def frame(headers: dict[str, str], payload: bytes) -> bytes:
    """One application/vnd.amazon.eventstream message: prelude, prelude CRC, headers, payload, CRC."""
    head = b"".join(_header(k, v) for k, v in headers.items())
    prelude = struct.pack(">II", 12 + len(head) + len(payload) + 4, len(head))
    prelude += struct.pack(">I", binascii.crc32(prelude))
    message = prelude + head + payload
    return message + struct.pack(">I", binascii.crc32(message))


def event(kind: str, payload: dict[str, Any]) -> bytes:
    """A ConverseStream event frame."""
    headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
    return frame(headers, json.dumps(payload).encode())


def exception(kind: str, message: str) -> bytes:
    """A ConverseStream exception frame (an error after the 200)."""
    headers = {":exception-type": kind, ":content-type": "application/json", ":message-type": "exception"}
    return frame(headers, json.dumps({"message": message}).encode())


class BedrockWire:
    """Bedrock's Converse (REST-JSON), ConverseStream (binary event stream) and InvokeModel for
    Cohere embeddings, as botocore receives them."""

    name = "bedrock"
    counts_embedding_tokens = True

    @staticmethod
    def _usage(tokens: Tokens) -> dict[str, int]:
        return {"inputTokens": tokens.prompt, "outputTokens": tokens.completion,
                "totalTokens": tokens.prompt + tokens.completion}

    def _converse(self, content: list[dict[str, Any]], stop: str, tokens: Tokens) -> Reply:
        body = {"output": {"message": {"role": "assistant", "content": content}}, "stopReason": stop,
                "usage": self._usage(tokens), "metrics": {"latencyMs": 120}}
        return json_reply(body, headers={"x-amzn-requestid": "wire-req-1"})

    def text(self, text: str, tokens: Tokens) -> Reply:
        return self._converse([{"text": text}], "end_turn", tokens)

    def tool_calls(self, calls: list[Call], tokens: Tokens, text: str = "") -> Reply:
        content: list[dict[str, Any]] = [{"text": text}] if text else []
        content += [{"toolUse": {"toolUseId": c.id, "name": c.name, "input": c.arguments}} for c in calls]
        return self._converse(content, "tool_use", tokens)

    def _stream(self, frames: list[bytes], stop: str, tokens: Tokens) -> Reply:
        frames = [event("messageStart", {"role": "assistant"}), *frames,
                  event("messageStop", {"stopReason": stop}),
                  event("metadata", {"usage": self._usage(tokens), "metrics": {"latencyMs": 120}})]
        return Reply(200, _EVENTSTREAM, tuple(frames))

    def text_stream(self, pieces: list[str], tokens: Tokens) -> Reply:
        frames = [event("contentBlockDelta", {"delta": {"text": p}, "contentBlockIndex": 0}) for p in pieces]
        return self._stream([*frames, event("contentBlockStop", {"contentBlockIndex": 0})], "end_turn", tokens)

    def tool_call_stream(self, calls: list[Call], tokens: Tokens) -> Reply:
        frames: list[bytes] = []
        for index, call in enumerate(calls):
            frames.append(event("contentBlockStart", {"start": {"toolUse": {"toolUseId": call.id, "name": call.name}},
                                                      "contentBlockIndex": index}))
            frames += [event("contentBlockDelta", {"delta": {"toolUse": {"input": piece}}, "contentBlockIndex": index})
                       for piece in halves(json.dumps(call.arguments))]
            frames.append(event("contentBlockStop", {"contentBlockIndex": index}))
        return self._stream(frames, "tool_use", tokens)

    def error(self, status: int, message: str, retry_after: str | None = None) -> Reply:
        code, sent_status = _BEDROCK_ERROR.get(status, ("InternalServerException", status))
        headers = {"x-amzn-errortype": code, **retry_after_header(retry_after)}
        return json_reply({"message": message}, sent_status, headers)

    def error_in_stream(self, piece: str, status: int, message: str) -> Reply:
        frames = (event("messageStart", {"role": "assistant"}),
                  event("contentBlockDelta", {"delta": {"text": piece}, "contentBlockIndex": 0}),
                  exception(_BEDROCK_STREAM_ERROR.get(status, "internalServerException"), message))
        return Reply(200, _EVENTSTREAM, frames)

    def broken_stream(self) -> Reply:
        headers = {":event-type": "messageStart", ":content-type": "application/json", ":message-type": "event"}
        return Reply(200, _EVENTSTREAM, (frame(headers, b"{not json"),))

    def not_protocol(self) -> Reply:
        return json_reply({"hello": "world"})

    def embeddings(self, vectors: list[list[float]], tokens: int) -> Reply:
        body = {"id": "emb-wire", "embeddings": vectors, "texts": [], "response_type": "embeddings_floats"}
        return json_reply(body, headers={"x-amzn-bedrock-input-token-count": str(tokens)})

    def tools(self, sent: dict[str, Any]) -> dict[str, Any]:
        specs = (sent.get("toolConfig") or {}).get("tools") or []
        return {s["toolSpec"]["name"]: s["toolSpec"]["inputSchema"]["json"] for s in specs if "toolSpec" in s}

    def history_calls(self, sent: dict[str, Any]) -> list[Call]:
        return [Call(b["toolUse"]["toolUseId"], b["toolUse"]["name"], b["toolUse"]["input"])
                for m in sent["messages"] if m["role"] == "assistant" for b in m["content"] if "toolUse" in b]

    def tool_results(self, sent: dict[str, Any]) -> dict[str, Any]:
        results = [b["toolResult"] for m in sent["messages"] if m["role"] == "user" for b in m["content"]
                   if "toolResult" in b]
        return {r["toolUseId"]: tool_result("".join(p.get("text", "") for p in r["content"])) for r in results}
