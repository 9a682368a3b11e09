"""Account: price the call from its usage and queue the ledger row — for every request that got
past identification, answered or not."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from gureum.errors import GureumError
from gureum.flow.pipeline import finally_stream
from gureum.flow.types import Context, Next, Reply
from gureum.governance.recorder import Recorder
from gureum.metrics import COST, LATENCY, REQUESTS, TOKENS
from gureum.providers.base import Usage

if TYPE_CHECKING:
    from gureum.routing.catalog import Deployment


def ledger_row(ctx: Context) -> dict[str, Any]:
    p = ctx.principal
    dep = ctx.deployment
    u = ctx.usage
    return {
        "ts": datetime.now(UTC),
        "request_id": ctx.request_id,
        "tenant_id": p.tenant_id if p else "",
        "user_id": p.user_id if p else None,
        "key_id": p.key_id if p else None,
        "endpoint": ctx.endpoint.value,
        "model": ctx.model,
        "deployment": dep.id if dep else None,
        "provider": dep.settings.provider if dep else None,
        "region": dep.region if dep else None,
        "input_tokens": u.prompt_tokens,
        "output_tokens": u.completion_tokens,
        "cached_tokens": u.cached_tokens,
        "tokens_saved": ctx.tokens_saved,
        "cost": ctx.cost,
        "cost_saved": ctx.cost_saved,
        "latency_ms": round(ctx.elapsed_ms, 3),
        "status": ctx.status,
        "error_code": ctx.error_code,
        "cache": ctx.cache,
        "route": ctx.route or None,
    }


def sub_call_row(
    ctx: Context, purpose: str, model: str, dep: Deployment, usage: Usage, latency_ms: float, route: dict[str, Any]
) -> dict[str, Any]:
    """The ledger row of a model call a stage makes for the request besides its answer (a context
    summary, a rerank): a row of its own, under the request id with `:<purpose>` appended, so usage
    and cost reports count it while the request's row stays the answer's."""
    p = ctx.principal
    return {
        "ts": datetime.now(UTC), "request_id": f"{ctx.request_id}:{purpose}",
        "tenant_id": p.tenant_id if p else "", "user_id": p.user_id if p else None,
        "key_id": p.key_id if p else None, "endpoint": ctx.endpoint.value, "model": model,
        "deployment": dep.id, "provider": dep.settings.provider, "region": dep.region,
        "input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens,
        "cached_tokens": usage.cached_tokens, "tokens_saved": 0, "cost": dep.cost(usage), "cost_saved": 0.0,
        "latency_ms": round(latency_ms, 3), "status": 200, "error_code": None, "cache": None, "route": route,
    }


class Account:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    def _settle(self, ctx: Context, error: BaseException | None) -> None:
        if error is not None:
            ctx.status = error.status if isinstance(error, GureumError) else 499 if _is_cancel(error) else 500
            ctx.error_code = getattr(error, "code", None) or type(error).__name__
        if ctx.deployment is not None and ctx.cache is None:
            ctx.cost = ctx.deployment.cost(ctx.usage)
        row = ledger_row(ctx)
        self.recorder.submit(ledger=row)
        REQUESTS.labels(row["endpoint"], ctx.model, str(ctx.status)).inc()
        LATENCY.labels(row["endpoint"]).observe(row["latency_ms"] / 1000.0)
        if ctx.deployment is not None:
            TOKENS.labels(ctx.model, row["deployment"], "input").inc(row["input_tokens"])
            TOKENS.labels(ctx.model, row["deployment"], "output").inc(row["output_tokens"])
        if ctx.cost:
            COST.labels(row["tenant_id"], ctx.model).inc(ctx.cost)

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        try:
            reply = await next(ctx)
        except BaseException as exc:
            self._settle(ctx, exc)
            raise
        if reply.stream is None:
            self._settle(ctx, None)
            return reply
        reply.stream = finally_stream(reply.stream, None, lambda err: self._settle(ctx, err))
        return reply


def _is_cancel(error: BaseException) -> bool:
    return isinstance(error, (asyncio.CancelledError, GeneratorExit))
