"""Call: the terminal stage — run the routed plan through the router against the providers, in
the shape the call's operation names (chat, embed, rerank), and answer in OpenAI's shapes (the
rerank answer in the shape Cohere and Jina use)."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import numpy as np
from opentelemetry.trace import Tracer

from gureum.errors import InvalidRequest
from gureum.flow.types import Context, Next, Reply
from gureum.providers.base import Usage
from gureum.observability.tracing import client_call, client_stream
from gureum.routing.catalog import Deployment, Plan
from gureum.routing.router import Router

T = TypeVar("T")


def _b64(vec: list[float]) -> str:
    # OpenAI's base64 format: little-endian float32 (what the official SDK requests by default).
    return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode()


class Call:
    def __init__(self, router: Router, tracer: Tracer | None = None) -> None:
        self.router = router
        self.tracer = tracer

    def _traced(self, operation: str, fn: Callable[[Deployment], Awaitable[T]]) -> Callable[[Deployment], Awaitable[T]]:
        """Each provider attempt as a CLIENT span, when tracing is on."""
        tracer = self.tracer
        if tracer is None:
            return fn
        return lambda d: client_call(tracer, operation, d.model, d.settings.provider, lambda: fn(d))

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        plan = ctx.plan
        assert plan is not None, "route runs before call"
        if ctx.op.call == "embed":
            return await self._embed(ctx, plan)
        if ctx.op.call == "rerank":
            return await self._rerank(ctx, plan)
        body = ctx.body
        if ctx.stream:
            tracer = self.tracer
            open_stream: Callable[[Deployment], AsyncIterator[dict[str, Any]]] = (
                (lambda d: d.provider.stream(body, d.model)) if tracer is None else
                (lambda d: client_stream(tracer, "chat", d.model, d.settings.provider,
                                         lambda: d.provider.stream(body, d.model))))
            dep, stream = await self.router.stream(plan, ctx.route, open_stream)
            ctx.deployment = dep
            return Reply(stream=self._track(ctx, stream))
        dep, result = await self.router.call(plan, ctx.route, self._traced("chat", lambda d: d.provider.chat(body, d.model)))
        ctx.deployment = dep
        ctx.usage = result.usage
        result.body["model"] = ctx.model
        return Reply(body=result.body)

    async def _track(self, ctx: Context, stream: Any) -> Any:
        async for chunk in stream:
            if chunk.get("usage"):
                ctx.usage = Usage.from_openai(chunk["usage"])
            chunk["model"] = ctx.model
            yield chunk

    async def _embed(self, ctx: Context, plan: Plan) -> Reply:
        raw = ctx.body.get("input")
        inputs = [raw] if isinstance(raw, str) else raw
        if not isinstance(inputs, list) or not inputs or not all(isinstance(t, str) for t in inputs):
            raise InvalidRequest("'input' must be a non-empty string or list of strings", param="input")
        kind = "query" if ctx.body.get("input_type") == "query" else "passage"
        dep, result = await self.router.call(plan, ctx.route, self._traced(
            "embeddings", lambda d: d.provider.embed(inputs, d.model, kind=kind)))
        ctx.deployment = dep
        ctx.usage = result.usage
        dims = ctx.body.get("dimensions")
        if dims is not None and result.vectors and dims != len(result.vectors[0]):
            raise InvalidRequest(
                f"'{ctx.model}' returns {len(result.vectors[0])}-dimensional vectors and cannot shorten them",
                param="dimensions",
            )
        as_b64 = ctx.body.get("encoding_format") == "base64"
        data = [
            {"object": "embedding", "index": i, "embedding": _b64(vec) if as_b64 else vec}
            for i, vec in enumerate(result.vectors)
        ]
        usage = {"prompt_tokens": result.usage.prompt_tokens, "total_tokens": result.usage.prompt_tokens}
        return Reply(body={"object": "list", "data": data, "model": ctx.model, "usage": usage})

    async def _rerank(self, ctx: Context, plan: Plan) -> Reply:
        query = ctx.body.get("query")
        documents = ctx.body.get("documents")
        if not isinstance(query, str) or not isinstance(documents, list) or not all(isinstance(d, str) for d in documents):
            raise InvalidRequest("a rerank call needs a 'query' string and a list of 'documents' strings", param="documents")
        top_n = ctx.body.get("top_n")
        dep, result = await self.router.call(
            plan, ctx.route, self._traced("rerank", lambda d: d.provider.rerank(
                query, documents, d.model, top_n if isinstance(top_n, int) else None))
        )
        ctx.deployment = dep
        ctx.usage = result.usage
        ranked = sorted(result.scores.items(), key=lambda kv: -kv[1])
        return Reply(body={"object": "list", "model": ctx.model,
                           "results": [{"index": i, "relevance_score": s} for i, s in ranked],
                           "usage": result.usage.to_openai()})
