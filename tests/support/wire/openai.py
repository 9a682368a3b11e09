"""OpenAI's chat.completions wire format (and every server that speaks it)."""

from __future__ import annotations

import json
from typing import Any

from tests.support.wire.base import Call, Reply, Tokens, halves, json_reply, retry_after_header, tool_result


def openai_tool_calls(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Assemble the tool calls of an OpenAI chunk stream (of choice 0), as an OpenAI client does:
    the id, type and name from a call's first delta, its arguments the concatenated pieces."""
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        for choice in chunk.get("choices") or []:
            for delta in choice["delta"].get("tool_calls") or []:
                call = calls.setdefault(delta["index"], {"function": {"arguments": ""}})
                for key in ("id", "type"):
                    if key in delta:
                        call[key] = delta[key]
                function = delta.get("function") or {}
                if "name" in function:
                    call["function"]["name"] = function["name"]
                call["function"]["arguments"] += function.get("arguments") or ""
    return [{"id": c.get("id"), "type": c.get("type"), "function": c["function"]} for _, c in sorted(calls.items())]


def _openai_call(call: Call) -> dict[str, Any]:
    return {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": json.dumps(call.arguments)}}


def _openai_usage(tokens: Tokens) -> dict[str, int]:
    return {"prompt_tokens": tokens.prompt, "completion_tokens": tokens.completion,
            "total_tokens": tokens.prompt + tokens.completion}


def _sse_data(*payloads: Any) -> tuple[bytes, ...]:
    return tuple(b"data: " + (p if isinstance(p, bytes) else json.dumps(p).encode()) + b"\n\n" for p in payloads)


class OpenAIWire:
    """OpenAI's chat.completions (and the servers that speak it): JSON, and SSE `data:` lines."""

    name = "openai"
    counts_embedding_tokens = True
    _base = {"id": "chatcmpl-wire1", "created": 1_700_000_000, "model": "gpt-wire"}

    def _completion(self, message: dict[str, Any], finish: str, tokens: Tokens) -> Reply:
        choice = {"index": 0, "message": message, "logprobs": None, "finish_reason": finish}
        body = {**self._base, "object": "chat.completion", "choices": [choice], "usage": _openai_usage(tokens)}
        return json_reply(body)

    def text(self, text: str, tokens: Tokens) -> Reply:
        return self._completion({"role": "assistant", "content": text}, "stop", tokens)

    def tool_calls(self, calls: list[Call], tokens: Tokens, text: str = "") -> Reply:
        message = {"role": "assistant", "content": text or None, "tool_calls": [_openai_call(c) for c in calls]}
        return self._completion(message, "tool_calls", tokens)

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._base, "object": "chat.completion.chunk", "choices": [choice]}

    def _stream(self, deltas: list[dict[str, Any]], finish: str, tokens: Tokens) -> Reply:
        usage = {**self._base, "object": "chat.completion.chunk", "choices": [], "usage": _openai_usage(tokens)}
        events = [self._chunk({"role": "assistant", "content": ""}), *map(self._chunk, deltas),
                  self._chunk({}, finish), usage, b"[DONE]"]
        return Reply(200, {"content-type": "text/event-stream"}, _sse_data(*events))

    def text_stream(self, pieces: list[str], tokens: Tokens) -> Reply:
        return self._stream([{"content": p} for p in pieces], "stop", tokens)

    def tool_call_stream(self, calls: list[Call], tokens: Tokens) -> Reply:
        deltas: list[dict[str, Any]] = []
        for index, call in enumerate(calls):
            deltas.append({"tool_calls": [{"index": index, "id": call.id, "type": "function",
                                           "function": {"name": call.name, "arguments": ""}}]})
            deltas += [{"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
                       for piece in halves(json.dumps(call.arguments))]
        return self._stream(deltas, "tool_calls", tokens)

    def error(self, status: int, message: str, retry_after: str | None = None) -> Reply:
        kind = "server_error" if status >= 500 else "rate_limit_exceeded" if status == 429 else "invalid_request_error"
        body = {"error": {"message": message, "type": kind, "param": None, "code": None}}
        return json_reply(body, status, retry_after_header(retry_after))

    def error_in_stream(self, piece: str, status: int, message: str) -> Reply:
        error = {"error": {"message": message, "type": "server_error", "param": None, "code": status}}
        events = _sse_data(self._chunk({"role": "assistant", "content": ""}), self._chunk({"content": piece}), error)
        return Reply(200, {"content-type": "text/event-stream"}, events)

    def broken_stream(self) -> Reply:
        events = _sse_data(self._chunk({"role": "assistant", "content": ""}), b"{not json")
        return Reply(200, {"content-type": "text/event-stream"}, events)

    def not_protocol(self) -> Reply:
        return json_reply({"hello": "world"})

    def embeddings(self, vectors: list[list[float]], tokens: int) -> Reply:
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        return json_reply({"object": "list", "data": data, "model": "embed-wire",
                      "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def rerank(self, scores: dict[int, float], tokens: int) -> Reply:
        results = [{"index": i, "relevance_score": s} for i, s in sorted(scores.items(), key=lambda kv: -kv[1])]
        return json_reply({"id": "rerank-wire", "results": results, "usage": {"total_tokens": tokens}})

    def tools(self, sent: dict[str, Any]) -> dict[str, Any]:
        return {t["function"]["name"]: t["function"].get("parameters") for t in sent.get("tools") or []}

    def history_calls(self, sent: dict[str, Any]) -> list[Call]:
        return [Call(c["id"], c["function"]["name"], json.loads(c["function"]["arguments"]))
                for m in sent["messages"] if m["role"] == "assistant" for c in m.get("tool_calls") or []]

    def tool_results(self, sent: dict[str, Any]) -> dict[str, Any]:
        return {m["tool_call_id"]: tool_result(m["content"]) for m in sent["messages"] if m["role"] == "tool"}
