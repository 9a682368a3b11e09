"""A scriptable OpenAI-compatible upstream speaking the real wire format (JSON and SSE). It records
every request it receives, so tests can assert on what left gureum (e.g. that PII was masked).

Behaviour per request is scripted with `FakeOpenAI.script(...)`: a queue of actions consumed in
order, falling back to `default`. Actions: "ok", "error:<status>", "hang", "garbage",
"slow:<seconds>" (before answering), "drip:<seconds>" (between stream chunks), "stall_mid_stream".

`/v1/rerank` answers in Cohere's and Jina's shape with scores a test can predict and that differ
from any retrieval order: documents containing `favour` first, the others in the reverse of the
order they were sent.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


class FakeOpenAI:
    def __init__(self, reply: str = "Hello from the fake upstream.", name: str = "fake") -> None:
        self.reply = reply
        self.name = name
        self.default = "ok"
        self.actions: deque[str] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.cancelled = 0
        self.favour: str | None = None
        self._ids = itertools.count(1)
        self.app = Starlette(
            routes=[
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/v1/rerank", self.rerank, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )

    def script(self, *actions: str) -> None:
        self.actions.extend(actions)

    def _next_action(self) -> str:
        return self.actions.popleft() if self.actions else self.default

    def reply_for(self, body: dict[str, Any]) -> str:
        return self.reply

    async def _pre(self, request: Request) -> tuple[dict[str, Any], str, Response | None]:
        body = orjson.loads(await request.body())
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        action = self._next_action()
        if action.startswith("error:"):
            status = int(action.split(":")[1])
            err = {"error": {"message": f"scripted {status}", "type": "server_error" if status >= 500 else "invalid_request_error", "code": None}}
            return body, action, JSONResponse(err, status_code=status)
        if action == "hang":
            await asyncio.sleep(3600)
        if action.startswith("slow:"):
            await asyncio.sleep(float(action.split(":")[1]))
        if action == "garbage":
            return body, action, Response(b"<html>502 Bad Gateway</html>", media_type="text/html")
        return body, action, None

    async def chat(self, request: Request) -> Response:
        body, action, early = await self._pre(request)
        if early is not None:
            return early
        text = self.reply_for(body)
        n = next(self._ids)
        usage = {"prompt_tokens": 10 + len(body.get("messages", [])), "completion_tokens": len(text.split()),
                 "total_tokens": 10 + len(body.get("messages", [])) + len(text.split())}
        if body.get("stream"):
            return StreamingResponse(self._sse(n, text, usage, body, action), media_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant", "content": text}
        finish = "stop"
        if body.get("tools") and body.get("tool_choice") not in (None, "none"):
            fn = body["tools"][0]["function"]["name"]
            message = {"role": "assistant", "content": None, "tool_calls": [
                {"id": f"call_{n}", "type": "function", "function": {"name": fn, "arguments": '{"city": "Seoul"}'}}]}
            finish = "tool_calls"
        return JSONResponse({
            "id": f"chatcmpl-{self.name}-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model"), "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        })

    async def _sse(self, n: int, text: str, usage: dict[str, Any], body: dict[str, Any], action: str):  # type: ignore[no-untyped-def]
        base = {"id": f"chatcmpl-{self.name}-{n}", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model")}
        try:
            yield b"data: " + orjson.dumps({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}) + b"\n\n"
            words = text.split(" ")
            for i, w in enumerate(words):
                piece = w if i == 0 else " " + w
                yield b"data: " + orjson.dumps({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}) + b"\n\n"
                if action == "stall_mid_stream" and i == 0:
                    await asyncio.sleep(3600)
                await asyncio.sleep(float(action.split(":")[1]) if action.startswith("drip:") else 0)
            yield b"data: " + orjson.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + b"\n\n"
            if (body.get("stream_options") or {}).get("include_usage"):
                yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
            yield b"data: [DONE]\n\n"
        except asyncio.CancelledError:
            self.cancelled += 1
            raise

    async def embeddings(self, request: Request) -> Response:
        body, _, early = await self._pre(request)
        if early is not None:
            return early
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [{"object": "embedding", "index": i, "embedding": [float(len(t) % 7), 0.5, -0.25, 1.0]} for i, t in enumerate(inputs)]
        return JSONResponse({"object": "list", "data": data, "model": body.get("model"),
                             "usage": {"prompt_tokens": sum(len(t.split()) for t in inputs), "total_tokens": 0}})

    async def rerank(self, request: Request) -> Response:
        body, _, early = await self._pre(request)
        if early is not None:
            return early
        docs: list[str] = body["documents"]
        scores = [(1.0 if self.favour and self.favour in d else 0.0) + (i + 1) / (10 * len(docs))
                  for i, d in enumerate(docs)]
        ranked = sorted(range(len(docs)), key=lambda i: -scores[i])[: body.get("top_n") or len(docs)]
        return JSONResponse({
            "id": f"rerank-{next(self._ids)}", "model": body.get("model"),
            "results": [{"index": i, "relevance_score": scores[i], "document": {"text": docs[i]}} for i in ranked],
            "usage": {"total_tokens": sum(len(t.split()) for t in [body["query"], *docs])},
        })

    async def models(self, request: Request) -> Response:
        return JSONResponse({"object": "list", "data": [{"id": "fake-model", "object": "model", "created": 0, "owned_by": self.name}]})
