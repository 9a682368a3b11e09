"""Where a call's text is, by the shape its operation names (`Operation.text`): every message
(any role, string content, text content parts, tool-call arguments) of a chat body, every item
of an embeddings `input`, or a rerank call's `query` and `documents`.

`slots` returns a copy of the body whose text can be replaced, with one slot per text; the guard
masks through the slots and the request's body is never edited in place. `input_tokens` is the
estimate limits reserve for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gureum.flow.operations import Text
from gureum.tokens import estimate_messages, estimate_tokens

Setter = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Slot:
    role: str  # the message's role, or "input" / "query" / "document"
    text: str
    put: Setter


def _setter(obj: dict[str, Any], key: str) -> Setter:
    def put(value: str) -> None:
        obj[key] = value

    return put


def _item_setter(items: list[Any], index: int) -> Setter:
    def put(value: str) -> None:
        items[index] = value

    return put


def _message_slots(body: dict[str, Any]) -> tuple[dict[str, Any], list[Slot]]:
    out = dict(body)
    messages: list[Any] = []
    slots: list[Slot] = []
    for raw in body.get("messages") or ():
        if not isinstance(raw, dict):
            messages.append(raw)
            continue
        m = dict(raw)
        role = str(m.get("role", ""))
        content = m.get("content")
        if isinstance(content, str) and content:
            slots.append(Slot(role, content, _setter(m, "content")))
        elif isinstance(content, list):
            parts = [dict(p) if isinstance(p, dict) else p for p in content]
            m["content"] = parts
            for part in parts:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    slots.append(Slot(role, part["text"], _setter(part, "text")))
        if isinstance(m.get("tool_calls"), list):
            calls = []
            for call in m["tool_calls"]:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str) and fn["arguments"]:
                    call = {**call, "function": dict(fn)}
                    slots.append(Slot(role, fn["arguments"], _setter(call["function"], "arguments")))
                calls.append(call)
            m["tool_calls"] = calls
        messages.append(m)
    out["messages"] = messages
    return out, slots


def _list_slots(out: dict[str, Any], key: str, role: str) -> list[Slot]:
    raw = out.get(key)
    if isinstance(raw, str):
        return [Slot(role, raw, _setter(out, key))] if raw else []
    if not isinstance(raw, list):
        return []
    items = list(raw)
    out[key] = items
    return [Slot(role, t, _item_setter(items, i)) for i, t in enumerate(items) if isinstance(t, str) and t]


def slots(text: Text, body: dict[str, Any]) -> tuple[dict[str, Any], list[Slot]]:
    if text == "messages":
        return _message_slots(body)
    out = dict(body)
    if text == "input":
        return out, _list_slots(out, "input", "input")
    if text == "rerank":
        return out, _list_slots(out, "query", "query") + _list_slots(out, "documents", "document")
    return out, []


PART_KINDS = {"text": "text", "image_url": "image", "input_audio": "audio", "file": "file"}


def content_kinds(text: Text, body: dict[str, Any]) -> set[str]:
    """The kinds of content a call carries (`text`, `image`, `audio`, `file`)."""
    if text != "messages":
        return {"text"}
    kinds = {"text"}
    for m in body.get("messages") or ():
        content = m.get("content") if isinstance(m, dict) else None
        for part in content if isinstance(content, list) else ():
            if isinstance(part, dict) and part.get("type") in PART_KINDS:
                kinds.add(PART_KINDS[part["type"]])
    return kinds


def input_tokens(text: Text, body: dict[str, Any]) -> int:
    if text == "messages":
        messages = body.get("messages")
        return estimate_messages(messages if isinstance(messages, list) else [], body.get("tools"))
    return sum(estimate_tokens(s.text) for s in slots(text, body)[1])


__all__ = ["Slot", "content_kinds", "input_tokens", "slots"]
