"""Reading OpenAI chat messages: the text of a message's content, whether it is a string or a
list of content parts (images and other non-text parts contribute nothing)."""

from __future__ import annotations

from typing import Any


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""
