"""gureum gateway-overhead benchmark: the floor.

Minimal OpenAI-compatible pass-through proxy: the 'what plain Python costs' reference.

FastAPI + one shared httpx.AsyncClient (connection pool) per worker process.
Does only what any gateway must: bearer-key check, JSON parse (to read model/stream),
forward to the upstream, return the body (or relay the SSE stream).
Run (as bench/gateway/run.py does): uvicorn passthrough:app --app-dir bench/gateway \
     --host 127.0.0.1 --port 4100 --no-access-log   [--http h11 --loop asyncio for the h11 variant]
Env: UPSTREAM (default http://127.0.0.1:18080), PT_KEY (default sk-bench-master-0001),
     PT_CLIENT (httpx | httpx2, default httpx: httpx2 is the fork whose connection pool does not
     go quadratic with many queued requests; run.py's `passthrough-httpx2` server uses it)
"""
import json
import os
from contextlib import asynccontextmanager

if os.environ.get("PT_CLIENT", "httpx") == "httpx2":
    import httpx2 as httpx
else:
    import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

UPSTREAM = os.environ.get("UPSTREAM", "http://127.0.0.1:18080")
KEY = os.environ.get("PT_KEY", "sk-bench-master-0001")
UPSTREAM_KEY = "Bearer sk-mock-upstream"
STREAM_PREFIX = "/stream"  # the mock serves SSE under /stream/v1/...

client: httpx.AsyncClient | None = None


@asynccontextmanager
async def lifespan(app):
    global client
    client = httpx.AsyncClient(
        base_url=UPSTREAM,
        limits=httpx.Limits(max_connections=256, max_keepalive_connections=256),
        timeout=httpx.Timeout(60.0),
    )
    yield
    await client.aclose()


app = FastAPI(lifespan=lifespan)


def _unauthorized():
    return JSONResponse({"error": {"message": "invalid api key", "type": "auth_error"}}, status_code=401)


def _authorized(request: Request) -> bool:
    return request.headers.get("authorization", "") == f"Bearer {KEY}"


async def _forward(request: Request, path: str):
    if not _authorized(request):
        return _unauthorized()
    raw = await request.body()
    body = json.loads(raw)  # a gateway has to look at model / stream
    headers = {"content-type": "application/json", "authorization": UPSTREAM_KEY}
    if body.get("stream"):
        req = client.build_request("POST", STREAM_PREFIX + path, content=raw, headers=headers)
        upstream = await client.send(req, stream=True)

        async def relay():
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            finally:
                await upstream.aclose()

        return StreamingResponse(relay(), status_code=upstream.status_code, media_type="text/event-stream")
    r = await client.post(path, content=raw, headers=headers)
    return Response(r.content, status_code=r.status_code, media_type="application/json")


@app.post("/v1/chat/completions")
async def chat(request: Request):
    return await _forward(request, "/v1/chat/completions")


@app.post("/v1/embeddings")
async def embeddings(request: Request):
    return await _forward(request, "/v1/embeddings")


@app.get("/v1/models")
async def models(request: Request):
    if not _authorized(request):
        return _unauthorized()
    r = await client.get("/v1/models")
    return Response(r.content, status_code=r.status_code, media_type="application/json")
