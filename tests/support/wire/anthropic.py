"""Anthropic's Messages API wire format."""

from __future__ import annotations

import json
from typing import Any

from tests.support.wire.base import Call, Reply, Tokens, halves, json_reply, retry_after_header, tool_result


_ANTHROPIC_ERROR = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
                    503: "overloaded_error", 504: "timeout_error", 529: "overloaded_error"}


def _sse_events(*events: dict[str, Any]) -> tuple[bytes, ...]:
    return tuple(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


class AnthropicWire:
    """Anthropic's Messages API: a message object, and named SSE events."""

    name = "anthropic"

    def _message(self, content: list[dict[str, Any]], stop: str, tokens: Tokens) -> Reply:
        return json_reply({"id": "msg_wire", "type": "message", "role": "assistant", "model": "claude-wire",
                      "content": content, "stop_reason": stop, "stop_sequence": None,
                      "usage": {"input_tokens": tokens.prompt, "output_tokens": tokens.completion}})

    def text(self, text: str, tokens: Tokens) -> Reply:
        return self._message([{"type": "text", "text": text}], "end_turn", tokens)

    def tool_calls(self, calls: list[Call], tokens: Tokens, text: str = "") -> Reply:
        content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        content += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments} for c in calls]
        return self._message(content, "tool_use", tokens)

    def _start(self, tokens: Tokens) -> dict[str, Any]:
        message: dict[str, Any] = {"id": "msg_wire", "type": "message", "role": "assistant", "model": "claude-wire",
                                   "content": [],
                   "stop_reason": None, "stop_sequence": None,
                   "usage": {"input_tokens": tokens.prompt, "output_tokens": 1}}
        return {"type": "message_start", "message": message}

    def _stream(self, blocks: list[dict[str, Any]], stop: str, tokens: Tokens) -> Reply:
        events = [self._start(tokens), *blocks,
                  {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                   "usage": {"output_tokens": tokens.completion}},
                  {"type": "message_stop"}]
        return Reply(200, {"content-type": "text/event-stream; charset=utf-8"}, _sse_events(*events))

    @staticmethod
    def _text_block(pieces: list[str]) -> list[dict[str, Any]]:
        return [{"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
                {"type": "ping"},
                *({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}
                  for p in pieces)]

    def text_stream(self, pieces: list[str], tokens: Tokens) -> Reply:
        return self._stream([*self._text_block(pieces), {"type": "content_block_stop", "index": 0}], "end_turn", tokens)

    def tool_call_stream(self, calls: list[Call], tokens: Tokens) -> Reply:
        blocks: list[dict[str, Any]] = []
        for index, call in enumerate(calls):
            blocks.append({"type": "content_block_start", "index": index,
                           "content_block": {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}})
            blocks += [{"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": piece}}
                       for piece in ["", *halves(json.dumps(call.arguments))]]
            blocks.append({"type": "content_block_stop", "index": index})
        return self._stream(blocks, "tool_use", tokens)

    def _error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = _ANTHROPIC_ERROR.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_wire"}

    def error(self, status: int, message: str, retry_after: str | None = None) -> Reply:
        return json_reply(self._error_body(status, message), status, retry_after_header(retry_after))

    def error_in_stream(self, piece: str, status: int, message: str) -> Reply:
        events = [self._start(Tokens(10, 0)), *self._text_block([piece]), self._error_body(status, message)]
        return Reply(200, {"content-type": "text/event-stream; charset=utf-8"}, _sse_events(*events))

    def broken_stream(self) -> Reply:
        return Reply(200, {"content-type": "text/event-stream"}, (b"event: message_start\ndata: {not json\n\n",))

    def not_protocol(self) -> Reply:
        return json_reply({"hello": "world"})

    def tools(self, sent: dict[str, Any]) -> dict[str, Any]:
        return {t["name"]: t["input_schema"] for t in sent.get("tools") or []}

    def history_calls(self, sent: dict[str, Any]) -> list[Call]:
        return [Call(b["id"], b["name"], b["input"]) for m in sent["messages"] if m["role"] == "assistant"
                for b in m["content"] if b["type"] == "tool_use"]

    def tool_results(self, sent: dict[str, Any]) -> dict[str, Any]:
        results: dict[str, Any] = {}
        for m in sent["messages"]:
            for b in m["content"] if m["role"] == "user" else ():
                if b["type"] == "tool_result":
                    content = b["content"]
                    text = "".join(p["text"] for p in content) if isinstance(content, list) else content
                    results[b["tool_use_id"]] = tool_result(text)
        return results
