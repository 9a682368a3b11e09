"""Account: price the call from its usage and queue the ledger row — for every request that got
past identification, answered or not, sub-calls included (each its own row, naming its parent)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from gureum.errors import GureumError
from gureum.flow.pipeline import finally_stream
from gureum.flow.types import Context, Next, Reply
from gureum.governance.recorder import Recorder
from gureum.metrics import (
    CACHE_HITS,
    COST,
    COST_SAVED,
    GENAI_DURATION,
    GENAI_OPERATION,
    GENAI_TOKENS,
    LATENCY,
    REFUSAL_CODES,
    REFUSALS,
    REQUESTS,
    TOKENS,
)


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
        "endpoint": ctx.op.name,
        "origin": ctx.origin,
        "parent_id": ctx.parent.request_id if ctx.parent is not None else None,
        "model": ctx.model_label,
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
        _count(ctx, row)

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


def _count(ctx: Context, row: dict[str, Any]) -> None:
    model = row["model"] if ctx.model_known else "unknown"  # metric labels stay bounded
    endpoint, status = row["endpoint"], str(ctx.status)
    seconds = row["latency_ms"] / 1000.0
    REQUESTS.labels(endpoint, model, row["deployment"] or "", status).inc()
    LATENCY.labels(endpoint, model, status).observe(seconds)
    if ctx.cache:
        CACHE_HITS.labels(ctx.cache, endpoint).inc()
    if ctx.error_code in REFUSAL_CODES:
        REFUSALS.labels(ctx.error_code).inc()
    dep = ctx.deployment
    if dep is not None:
        TOKENS.labels(model, row["deployment"], "input").inc(row["input_tokens"])
        TOKENS.labels(model, row["deployment"], "output").inc(row["output_tokens"])
        if ctx.cache is None and ctx.op.call is not None:
            op = GENAI_OPERATION[ctx.op.call]
            provider = dep.settings.provider
            GENAI_DURATION.labels(op, model, provider, ctx.error_code or "").observe(seconds)
            GENAI_TOKENS.labels(op, model, provider, "input").observe(row["input_tokens"])
            if ctx.op.call == "chat":
                GENAI_TOKENS.labels(op, model, provider, "output").observe(row["output_tokens"])
    if ctx.cost:
        COST.labels(row["tenant_id"], model).inc(ctx.cost)
    if ctx.cost_saved:
        COST_SAVED.labels(model).inc(ctx.cost_saved)


def _is_cancel(error: BaseException) -> bool:
    return isinstance(error, (asyncio.CancelledError, GeneratorExit))
