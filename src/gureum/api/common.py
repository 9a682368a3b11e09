"""What every route shares: bounded body reading, request ids, keys, and rendering a flow reply
as JSON or as server-sent events."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser

from gureum.errors import GureumError, InvalidRequest, PayloadTooLarge, Unprocessable
from gureum.flow.types import Context, Endpoint, Reply
from gureum.logs import request_id_var
from gureum.platform import Platform

M = TypeVar("M", bound=BaseModel)
_REQ_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


def platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def request_id(request: Request) -> str:
    rid = request.headers.get("x-request-id", "")
    return rid if _REQ_ID.match(rid) else "req_" + uuid.uuid4().hex


def bearer(request: Request) -> str | None:
    auth = request.headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return request.headers.get("api-key") or None


async def _bounded(request: Request, limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, refused with a 413 as soon as it is declared or read past `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"Request body is {declared} bytes; the limit is {limit}.")
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"Request body exceeds the limit of {limit} bytes.")
        yield chunk


def is_multipart(request: Request) -> bool:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower() == "multipart/form-data"


async def read_form(request: Request, limit: int, max_files: int) -> FormData:
    """A multipart/form-data body within the same size limit as JSON bodies. File parts are
    spooled (to disk past 1 MiB); the caller closes the form."""
    try:
        async with aclosing(_bounded(request, limit)) as body:
            return await MultiPartParser(request.headers, body, max_files=max_files).parse()
    except MultiPartException as exc:
        raise InvalidRequest(f"Request body is not valid multipart/form-data: {exc.message}") from None


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    raw = b"".join([chunk async for chunk in _bounded(request, limit)])
    if not raw:
        raise InvalidRequest("Request body is empty; send a JSON object.")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"Request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("Request body must be a JSON object.")
    return body


def validate(model: type[M], body: dict[str, Any]) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise Unprocessable(f"Invalid value for '{loc}': {first['msg']}", param=loc) from None


def context(request: Request, endpoint: Endpoint, body: dict[str, Any], model: str, stream: bool = False) -> Context:
    rid = request_id(request)
    request_id_var.set(rid)
    return Context(
        endpoint=endpoint,
        body=body,
        request_id=rid,
        api_key=bearer(request),
        headers={k.lower(): v for k, v in request.headers.items() if k.lower().startswith(("x-gureum", "cache-control"))},
        model=model,
        stream=stream,
    )


def reply_headers(ctx: Context, reply: Reply) -> dict[str, str]:
    headers = {"x-request-id": ctx.request_id, **reply.headers}
    if ctx.deployment is not None:
        headers["x-gureum-deployment"] = ctx.deployment.id
        reason = ctx.route.get("reason")
        if reason:
            headers["x-gureum-route"] = str(reason)[:200].encode("ascii", "replace").decode()
    if ctx.cache:
        headers["x-gureum-cache"] = ctx.cache
    return headers


def render(ctx: Context, reply: Reply) -> Response:
    headers = reply_headers(ctx, reply)
    if reply.stream is None:
        return Response(orjson.dumps(reply.body), media_type="application/json", headers=headers)
    return StreamingResponse(sse(reply.stream), media_type="text/event-stream", headers=headers)


async def sse(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    except GureumError as exc:
        # Headers are gone already; OpenAI's SDK raises on an `error` event mid-stream.
        yield b"data: " + orjson.dumps(exc.body()) + b"\n\n"
        return
    yield b"data: [DONE]\n\n"
