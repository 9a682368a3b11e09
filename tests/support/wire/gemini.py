"""Gemini's generateContent wire format, as the google-genai SDK receives it."""

from __future__ import annotations

import json
from typing import Any

from tests.support.wire.base import Call, Reply, Tokens, json_reply, retry_after_header


_GOOGLE_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
                  429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED"}


def _gemini_sse(*payloads: Any) -> tuple[bytes, ...]:
    # Google's SSE separates events with CRLF pairs.
    return tuple(b"data: " + (p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\r\n\r\n" for p in payloads)


class GeminiWire:
    """Gemini's generateContent / streamGenerateContent (SSE) and batchEmbedContents, as the
    google-genai SDK receives them."""

    name = "gemini"
    counts_embedding_tokens = False  # the Gemini API reports no token count for embeddings

    @staticmethod
    def _usage(tokens: Tokens) -> dict[str, int]:
        return {"promptTokenCount": tokens.prompt, "candidatesTokenCount": tokens.completion,
                "totalTokenCount": tokens.prompt + tokens.completion}

    def _response(self, parts: list[dict[str, Any]], finish: str | None, tokens: Tokens | None) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if finish:
            candidate["finishReason"] = finish
        out: dict[str, Any] = {"candidates": [candidate], "modelVersion": "gemini-wire", "responseId": "wire1"}
        if tokens:
            out["usageMetadata"] = self._usage(tokens)
        return out

    @staticmethod
    def _calls(calls: list[Call]) -> list[dict[str, Any]]:
        return [{"functionCall": {"id": c.id, "name": c.name, "args": c.arguments}} for c in calls]

    def text(self, text: str, tokens: Tokens) -> Reply:
        return json_reply(self._response([{"text": text}], "STOP", tokens))

    def tool_calls(self, calls: list[Call], tokens: Tokens, text: str = "") -> Reply:
        parts = ([{"text": text}] if text else []) + self._calls(calls)
        return json_reply(self._response(parts, "STOP", tokens))  # Gemini says STOP after a function call

    def text_stream(self, pieces: list[str], tokens: Tokens) -> Reply:
        events = [self._response([{"text": p}], None, None) for p in pieces[:-1]]
        events.append(self._response([{"text": pieces[-1]}], "STOP", tokens))
        return Reply(200, {"content-type": "text/event-stream"}, _gemini_sse(*events))

    def tool_call_stream(self, calls: list[Call], tokens: Tokens) -> Reply:
        # Gemini streams each function call whole.
        return Reply(200, {"content-type": "text/event-stream"},
                     _gemini_sse(self._response(self._calls(calls), "STOP", tokens)))

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"code": status, "message": message, "status": _GOOGLE_STATUS.get(status, "UNKNOWN")}}

    def error(self, status: int, message: str, retry_after: str | None = None) -> Reply:
        return json_reply(self._error_body(status, message), status, retry_after_header(retry_after))

    def error_in_stream(self, piece: str, status: int, message: str) -> Reply:
        events = _gemini_sse(self._response([{"text": piece}], None, None), self._error_body(status, message))
        return Reply(200, {"content-type": "text/event-stream"}, events)

    def broken_stream(self) -> Reply:
        return Reply(200, {"content-type": "text/event-stream"}, _gemini_sse(b"{not json"))

    def not_protocol(self) -> Reply:
        return json_reply({"hello": "world"})

    def embeddings(self, vectors: list[list[float]], tokens: int) -> Reply:
        return json_reply({"embeddings": [{"values": v} for v in vectors]})

    def tools(self, sent: dict[str, Any]) -> dict[str, Any]:
        # The SDK sends the JSON-schema field in snake_case; Google's parser takes both spellings.
        return {d["name"]: d.get("parameters_json_schema", d.get("parametersJsonSchema"))
                for tool in sent.get("tools") or [] for d in tool.get("functionDeclarations") or []}

    def history_calls(self, sent: dict[str, Any]) -> list[Call]:
        return [Call(p["functionCall"].get("id", ""), p["functionCall"]["name"], p["functionCall"].get("args", {}))
                for c in sent["contents"] if c["role"] == "model" for p in c["parts"] if "functionCall" in p]

    def tool_results(self, sent: dict[str, Any]) -> dict[str, Any]:
        return {p["functionResponse"].get("id", ""): p["functionResponse"]["response"]
                for c in sent["contents"] if c["role"] == "user" for p in c["parts"] if "functionResponse" in p}
