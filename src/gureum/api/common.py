"""What every route shares: bounded body reading, request ids, keys, sending a call through the
platform's gateway as the caller's key, and rendering the reply as JSON or server-sent events."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Annotated, Any, TypeVar

import orjson
from fastapi import Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.datastructures import FormData
from starlette.formparsers import MultiPartException, MultiPartParser

from gureum.errors import GureumError, InvalidRequest, PayloadTooLarge, Unprocessable
from gureum.flow.gateway import ApiKey, Reader
from gureum.flow.gateway import Request as Call
from gureum.flow.operations import Operation
from gureum.flow.types import Reply
from gureum.governance.pii.leaks import scrub
from gureum.platform import Platform

M = TypeVar("M", bound=BaseModel)
BIGINT_MAX = 2**63 - 1
# Row ids and cursors in paths and queries: out of PostgreSQL's bigint range is a 422, not a 500.
RowId = Annotated[int, Path(ge=1, le=BIGINT_MAX)]
Cursor = Annotated[int | None, Query(ge=0, le=BIGINT_MAX)]
_REQ_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")
# Separators of an id's words, as spaces, so the PII detector sees a value inside an id (a hyphen
# between digits stays: it is part of phone and registration numbers).
_ID_WORDS = re.compile(r"[_.:]|(?<=[A-Za-z])-|-(?=[A-Za-z])")


def platform(request: Request) -> Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def request_id(request: Request) -> str:
    """The client's `x-request-id` when it is a plain id (and carries no PII: it is stored), else a new one."""
    rid = request.headers.get("x-request-id", "")
    if _REQ_ID.match(rid) and scrub(words := _ID_WORDS.sub(" ", rid)) == words:
        return rid
    return "req_" + uuid.uuid4().hex


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
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise Unprocessable(f"Invalid value for '{loc}': {msg}", param=loc) from None


def forwarded_headers(request: Request) -> dict[str, str]:
    """The request headers the flow reads: gureum's own (`x-gureum-*`), cache-control, and the
    W3C trace context a traced request joins."""
    return {k.lower(): v for k, v in request.headers.items()
            if k.lower().startswith(("x-gureum", "cache-control", "traceparent", "tracestate"))}


async def complete(request: Request, op: Operation, read: Reader) -> Response:
    """Send the call through the platform's gateway as the request's key, and render the reply.
    The flow runs `read` (body, model, stream from the request) after the key is authenticated."""
    call = Call(op, headers=forwarded_headers(request), request_id=request_id(request), read=read)
    reply = await platform(request).complete(ApiKey(bearer(request)), call)
    return render(reply)


def render(reply: Reply) -> Response:
    if reply.stream is None:
        return Response(orjson.dumps(reply.body), media_type="application/json", headers=reply.headers)
    return StreamingResponse(sse(reply.stream), media_type="text/event-stream", headers=reply.headers)


async def sse(stream: AsyncIterator[dict[str, Any]]) -> AsyncIterator[bytes]:
    try:
        async for chunk in stream:
            yield b"data: " + orjson.dumps(chunk) + b"\n\n"
    except GureumError as exc:
        # Headers are gone already; OpenAI's SDK raises on an `error` event mid-stream.
        yield b"data: " + orjson.dumps(exc.body()) + b"\n\n"
        return
    yield b"data: [DONE]\n\n"
