"""The model text of a reply, filtered for its caller: the content and tool-call arguments of a
whole `chat.completion`, or of a stream of chunks, field by field, through the PII filters of
the guard (unmask the caller's placeholders; redact leaked PII in content). Replies are copied,
never edited in place, so a cached reply keeps its placeholders."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from gureum.governance.pii import Vault, unmask
from gureum.governance.pii.leaks import Leaks, TextFilter


def _unmask_call(call: Any, vault: Vault) -> Any:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("arguments"), str):
        return call
    return {**call, "function": {**fn, "arguments": unmask(fn["arguments"], vault)}}


def filter_body(body: dict[str, Any], vault: Vault | None, leaks: Leaks | None) -> dict[str, Any]:
    choices = body.get("choices")
    if not isinstance(choices, list):
        return body
    out = []
    for ch in choices:
        msg = ch.get("message") if isinstance(ch, dict) else None
        if not isinstance(msg, dict):
            out.append(ch)
            continue
        msg = dict(msg)
        if isinstance(msg.get("content"), str):
            text = unmask(msg["content"], vault) if vault else msg["content"]
            msg["content"] = leaks(text) if leaks is not None else text
        if vault and isinstance(msg.get("tool_calls"), list):
            msg["tool_calls"] = [_unmask_call(c, vault) for c in msg["tool_calls"]]
        out.append({**ch, "message": msg})
    return {**body, "choices": out}


async def filter_stream(
    stream: AsyncIterator[dict[str, Any]], vault: Vault | None, leaks: Leaks | None
) -> AsyncIterator[dict[str, Any]]:
    """Each choice's content and each tool call's arguments get a `TextFilter` of their own;
    what a filter holds back is released with the choice's finishing chunk (or, for a stream
    that ends without one, in a last chunk of its own)."""
    texts: dict[tuple[Any, ...], TextFilter] = {}
    last: dict[str, Any] | None = None

    def field(key: tuple[Any, ...], with_leaks: bool) -> TextFilter:
        t = texts.get(key)
        if t is None:
            t = texts[key] = TextFilter(vault, leaks if with_leaks else None)
        return t

    def flush_choice(idx: Any, delta: dict[str, Any]) -> dict[str, Any]:
        for key in [k for k in texts if k[0] == idx]:
            rest = texts.pop(key).flush()
            if not rest:
                continue
            if key[1] == "content":
                delta = {**delta, "content": (delta.get("content") or "") + rest}
            else:
                calls = list(delta.get("tool_calls") or [])
                calls.append({"index": key[2], "function": {"arguments": rest}})
                delta = {**delta, "tool_calls": calls}
        return delta

    async for chunk in stream:
        last = chunk
        choices = chunk.get("choices")
        if not choices:
            yield chunk
            continue
        new_choices = []
        for ch in choices:
            idx = ch.get("index", 0)
            delta = dict(ch.get("delta") or {})
            if isinstance(delta.get("content"), str) and delta["content"]:
                delta["content"] = field((idx, "content"), True).feed(delta["content"])
            if vault and isinstance(delta.get("tool_calls"), list):
                calls = []
                for call in delta["tool_calls"]:
                    fn = call.get("function") or {}
                    if isinstance(fn.get("arguments"), str) and fn["arguments"]:
                        text = field((idx, "tool", call.get("index", 0)), False).feed(fn["arguments"])
                        call = {**call, "function": {**fn, "arguments": text}}
                    calls.append(call)
                delta["tool_calls"] = calls
            if ch.get("finish_reason") is not None:
                delta = flush_choice(idx, delta)
            new_choices.append({**ch, "delta": delta})
        yield {**chunk, "choices": new_choices}
    for idx in sorted({k[0] for k in texts}, key=str):
        delta = flush_choice(idx, {})
        if delta and last is not None:
            yield {**{k: v for k, v in last.items() if k != "usage"},
                   "choices": [{"index": idx, "delta": delta, "finish_reason": None}]}


__all__ = ["filter_body", "filter_stream"]
