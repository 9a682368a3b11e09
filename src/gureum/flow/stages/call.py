"""Call: the terminal stage — run the plan through the router against the providers."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from gureum.errors import InvalidRequest
from gureum.flow.types import Context, Endpoint, Next, Reply
from gureum.providers.base import Usage
from gureum.routing.catalog import Plan
from gureum.routing.router import Router


def _b64(vec: list[float]) -> str:
    # OpenAI's base64 format: little-endian float32 (what the official SDK requests by default).
    return base64.b64encode(np.asarray(vec, dtype="<f4").tobytes()).decode()


class Call:
    def __init__(self, router: Router) -> None:
        self.router = router

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        plan: Plan = ctx.extras["plan"]
        if ctx.endpoint is Endpoint.EMBEDDINGS:
            return await self._embed(ctx, plan)
        body = ctx.body
        if ctx.stream:
            dep, stream = await self.router.stream(plan, ctx.route, lambda d: d.provider.stream(body, d.model))
            ctx.deployment = dep
            return Reply(stream=self._track(ctx, stream))
        dep, result = await self.router.call(plan, ctx.route, lambda d: d.provider.chat(body, d.model))
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
        dep, result = await self.router.call(plan, ctx.route, lambda d: d.provider.embed(inputs, d.model, kind=kind))
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
