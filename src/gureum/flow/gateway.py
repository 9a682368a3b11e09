"""The one entry to the flow. The HTTP routes, agents, jobs and the platform's own sub-calls
(a rerank, a context summary, the embeddings of ingestion and retrieval) all send their model
calls through `Gateway.complete`, so every one of them is identified, authorized, guarded,
budgeted, routed, accounted and audited by the same stages.

A caller is either an `ApiKey` (a request from outside: identify authenticates it) or a
`Principal` that trusted code in the process already holds. A sub-call names the request it
serves as `parent`: it gets its own request id (`<parent id>:<op>`), ledger row, budget charge,
residency check and audit event, carries the parent's data tags (the data it sends came from
the parent's), and the parent's answer is released only after the sub-call's audit event is
committed too.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from gureum.errors import GureumError
from gureum.flow.operations import Operation
from gureum.flow.types import Context, Next, Reply
from gureum.governance.principal import Principal
from gureum.logs import request_id_var

ROUTE_HEADER_MAX = 200


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A caller from outside, as the credential it presented (None: it presented none)."""

    secret: str | None


Caller = ApiKey | Principal


@dataclass(frozen=True, slots=True)
class Parsed:
    """What reading an HTTP call's body yields: the body, the model it asks for, whether it streams."""

    body: dict[str, Any]
    model: str
    stream: bool = False


# Reads and validates a call's body; raises the GureumError a bad body deserves.
Reader = Callable[[], Awaitable[Parsed]]


@dataclass(slots=True)
class Request:
    """One call for the flow: what to do (`op`), the OpenAI-shaped body, the model asked for.

    A call from outside may instead give a `read` function: the flow reads its body only after
    its key is authenticated (an anonymous request is refused before its body is touched), and a
    body that cannot be read is a refusal the audit records like any other."""

    op: Operation
    body: dict[str, Any] = field(default_factory=dict)
    model: str = ""
    stream: bool = False
    headers: dict[str, str] = field(default_factory=dict)  # x-gureum-* and cache-control of an HTTP call
    data_tags: frozenset[str] = frozenset()  # residency tags of the data the call carries
    request_id: str | None = None
    read: Reader | None = None


def new_request_id() -> str:
    return "req_" + uuid.uuid4().hex


class Gateway:
    def __init__(self) -> None:
        self._flow: Next | None = None

    def bind(self, flow: Next) -> None:
        """Set the built flow. Stages that make sub-calls hold the gateway before the flow they
        belong to exists, hence the late binding."""
        self._flow = flow

    async def complete(self, caller: Caller, request: Request, *, origin: str = "api",
                       parent: Context | None = None) -> Reply:
        assert self._flow is not None, "the gateway is used before the platform bound its flow"
        ctx = self._context(caller, request, origin, parent)
        if parent is None:
            request_id_var.set(ctx.request_id)
        try:
            reply = await self._flow(ctx)
        except GureumError as exc:
            exc.headers.setdefault("x-request-id", ctx.request_id)
            raise
        reply.headers = response_headers(ctx, reply)
        return reply

    @staticmethod
    def _context(caller: Caller, request: Request, origin: str, parent: Context | None) -> Context:
        tags = set(request.data_tags)
        if parent is not None:
            n = parent.children.get(request.op.name, 0) + 1
            parent.children[request.op.name] = n
            rid = f"{parent.request_id}:{request.op.name}" + (f":{n}" if n > 1 else "")
            tags |= parent.data_tags
            origin = parent.origin
        else:
            rid = request.request_id or new_request_id()
        return Context(
            op=request.op, body=request.body, request_id=rid, origin=origin, parent=parent,
            api_key=caller.secret if isinstance(caller, ApiKey) else None,
            principal=caller if isinstance(caller, Principal) else None,
            headers=request.headers, model=request.model, stream=request.stream, data_tags=tags, read=request.read,
        )


def response_headers(ctx: Context, reply: Reply) -> dict[str, str]:
    """What a reply tells its caller about the call: its request id, the deployment that answered
    and why, and how the cache took part."""
    headers = {"x-request-id": ctx.request_id, **reply.headers}
    if ctx.deployment is not None:
        headers["x-gureum-deployment"] = ctx.deployment.id
        reason = ctx.route.get("reason")
        if reason:
            headers["x-gureum-route"] = str(reason)[:ROUTE_HEADER_MAX].encode("ascii", "replace").decode()
    if ctx.cache:
        headers["x-gureum-cache"] = ctx.cache
    return headers


__all__ = ["ApiKey", "Caller", "Gateway", "Parsed", "Reader", "Request", "new_request_id", "response_headers"]
