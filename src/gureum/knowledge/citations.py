"""Grounded replies in OpenAI's shapes: a generated answer's stream with its citations in a chunk
of their own before the finishing one, and the extractive answer (written without a model) as a
`chat.completion`, a stream of chunks, or the `/v1/answer` object."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any


def new_completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def citation_chunk(cid: str, model: str, footer: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": {"content": footer}, "finish_reason": None}], **fields}


async def cite_stream(stream: AsyncIterator[dict[str, Any]], model: str, fields: dict[str, Any],
                      footer: str) -> AsyncIterator[dict[str, Any]]:
    """Relay the answer, with the sources footer and `fields` (citations, rerank) in a chunk of
    their own before the finishing one."""
    sent = False
    last_id = new_completion_id()
    async for chunk in stream:
        last_id = chunk.get("id", last_id)
        choices = chunk.get("choices") or []
        if not sent and choices and choices[0].get("finish_reason"):
            yield citation_chunk(last_id, model, footer, fields)
            sent = True
        chunk["model"] = model
        yield chunk
    if not sent:
        yield citation_chunk(last_id, model, footer, fields)


def extractive_body(chat: bool, model: str, text: str, cites: list[dict[str, Any]],
                    note: dict[str, Any]) -> dict[str, Any]:
    """The extractive answer as a whole reply; `note` says so (and carries the rerank report)."""
    if not chat:
        return {"object": "answer", "model": model, "answer_model": None, "answer": text, "citations": cites,
                "usage": None, **note}
    return {
        "id": new_completion_id(), "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                     "logprobs": None}],
        "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, "citations": cites, **note,
    }


async def extractive_stream(model: str, text: str, cites: list[dict[str, Any]],
                            note: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    base = {"id": new_completion_id(), "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    for line in text.splitlines(keepends=True):
        yield {**base, "choices": [{"index": 0, "delta": {"content": line}, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "citations": cites, **note}


__all__ = ["cite_stream", "citation_chunk", "extractive_body", "extractive_stream", "new_completion_id"]
