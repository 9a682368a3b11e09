"""A model provider that fails on purpose: an OpenAI-compatible server whose first path segment
names how it behaves, so one process serves a healthy deployment and every broken one side by
side (`http://127.0.0.1:PORT/<mode>/v1`).

Modes: `ok`; `slow` (answers after `SLOW_SECONDS`, longer than the deployment's timeout);
`delay<ms>` (answers after that many milliseconds: a request still in flight when a test stops
the server);
`e500` and `e503` (server errors); `e429` (rate limited, with `retry-after`); `malformed` (200
with a body that is not JSON); `truncated` (a stream cut off mid-event without `[DONE]`, and a
non-stream body cut in half). Beside it, a plain TCP port that resets every connection with an RST
once the request arrives (a provider's load balancer dropping us). A refused connection needs no
server: the suite points a deployment at a closed port.

It runs in its own process (`python -m gureum.prove.upstream HTTP_PORT RESET_PORT`) so its CPU is apart from the
server under test, and speaks the real wire format (JSON and server-sent events), because a fake
is only allowed at the edge we cannot reach.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import struct
import sys
import threading
import time
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

SLOW_SECONDS = 30.0
REPLY = "Noted:"
# A Korean mobile number as sent by a caller: one reaching the provider unmasked is a PII leak.
RAW_PHONE = re.compile(r"01[016789]-\d{3,4}-\d{4}")
STATS = {"requests": 0, "raw_pii": 0}


def _record(raw: bytes) -> dict[str, Any]:
    STATS["requests"] += 1
    if RAW_PHONE.search(raw.decode("utf-8", "replace")):
        STATS["raw_pii"] += 1
    return dict(orjson.loads(raw))


def _answer(body: dict[str, Any]) -> str:
    """The reply echoes the last user turn, so the caller's own (masked) data comes back through
    the unmasking on the way home."""
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    last = str(users[-1].get("content") or "") if users else ""
    return f"{REPLY} {last[:300]}"
MODES = ("ok", "slow", "e500", "e503", "e429", "malformed", "truncated")


def _usage(body: dict[str, Any]) -> dict[str, int]:
    prompt = 8 + sum(len(str(m.get("content") or "")) // 4 for m in body.get("messages", []))
    out = len(_answer(body).split())
    return {"prompt_tokens": prompt, "completion_tokens": out, "total_tokens": prompt + out}


def _error(status: int, headers: dict[str, str] | None = None) -> Response:
    kind = "rate_limit_exceeded" if status == 429 else "server_error"
    body = {"error": {"message": f"upstream says {status}", "type": kind, "param": None, "code": kind}}
    return Response(orjson.dumps(body), status, headers=headers, media_type="application/json")


async def _sse(body: dict[str, Any], truncated: bool) -> Any:
    base = {"id": "chatcmpl-prove", "object": "chat.completion.chunk", "created": int(time.time()),
            "model": body.get("model")}
    yield b"data: " + orjson.dumps({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                          "finish_reason": None}]}) + b"\n\n"
    words = _answer(body).split(" ")
    for i, w in enumerate(words):
        chunk = b"data: " + orjson.dumps({**base, "choices": [{"index": 0, "delta": {"content": (" " if i else "") + w},
                                                                "finish_reason": None}]}) + b"\n\n"
        if truncated and i == 2:
            yield chunk[: len(chunk) // 2]
            return
        yield chunk
    yield b"data: " + orjson.dumps({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}) + b"\n\n"
    if (body.get("stream_options") or {}).get("include_usage"):
        yield b"data: " + orjson.dumps({**base, "choices": [], "usage": _usage(body)}) + b"\n\n"
    yield b"data: [DONE]\n\n"


async def _failure(mode: str, request: Request) -> Response | None:
    if mode == "slow":
        await asyncio.sleep(SLOW_SECONDS)
    if mode.startswith("delay") and mode[5:].isdigit():
        await asyncio.sleep(int(mode[5:]) / 1000)
    if mode in ("e500", "e503"):
        return _error(int(mode[1:]))
    if mode == "e429":
        return _error(429, {"retry-after": "1"})
    if mode == "malformed":
        return Response(b"{\"id\": \"chatcmpl-x\", \"choices\": [ <html>oops", 200, media_type="application/json")
    return None


async def chat(request: Request) -> Response:
    mode = request.path_params["mode"]
    body = _record(await request.body())
    failed = await _failure(mode, request)
    if failed is not None:
        return failed
    truncated = mode == "truncated"
    if body.get("stream"):
        return StreamingResponse(_sse(body, truncated), media_type="text/event-stream")
    doc = orjson.dumps({
        "id": "chatcmpl-prove", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": _answer(body)}, "finish_reason": "stop"}],
        "usage": _usage(body),
    })
    return Response(doc[: len(doc) // 2] if truncated else doc, media_type="application/json")


async def embeddings(request: Request) -> Response:
    mode = request.path_params["mode"]
    body = _record(await request.body())
    failed = await _failure(mode, request)
    if failed is not None:
        return failed
    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
    data = [{"object": "embedding", "index": i, "embedding": [float(len(str(t)) % 7), 0.5, -0.25, 1.0]}
            for i, t in enumerate(inputs)]
    tokens = sum(len(str(t)) // 4 + 1 for t in inputs)
    return Response(orjson.dumps({"object": "list", "data": data, "model": body.get("model"),
                                  "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}),
                    media_type="application/json")


async def stats(request: Request) -> Response:
    return Response(orjson.dumps(STATS), media_type="application/json")


app = Starlette(routes=[
    Route("/stats", stats, methods=["GET"]),
    Route("/{mode}/v1/chat/completions", chat, methods=["POST"]),
    Route("/{mode}/v1/embeddings", embeddings, methods=["POST"]),
])


def resetting(port: int) -> None:
    """Accept, read the request, close with SO_LINGER 0 (an RST), forever (a daemon thread)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(256)

    def loop() -> None:
        while True:
            conn, _ = sock.accept()
            conn.settimeout(2.0)
            with contextlib.suppress(OSError):
                conn.recv(65536)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    threading.Thread(target=loop, daemon=True, name="reset").start()


def main() -> None:
    import uvicorn

    resetting(int(sys.argv[2]))
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
