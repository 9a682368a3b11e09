"""Wrapping the ordered stages into one callable, once, at start-up."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from opentelemetry.trace import Tracer

from gureum.flow.types import Context, Next, Reply, Stage
from gureum.observability.tracing import traced_stage


async def _end(ctx: Context) -> Reply:
    raise RuntimeError(f"the flow for {ctx.op.name} ended without a terminal stage")


def build(stages: Sequence[Stage], tracer: Tracer | None = None) -> Next:
    """With a `tracer`, each stage runs in a span of its own (see `gureum.observability.tracing`)."""
    handler: Next = _end
    for stage in reversed(stages):
        handler = traced_stage(tracer, stage, handler) if tracer is not None else _bind(stage, handler)
    return handler


def _bind(stage: Stage, nxt: Next) -> Next:
    async def run(ctx: Context) -> Reply:
        return await stage(ctx, nxt)

    return run


async def finally_stream(
    stream: AsyncIterator[dict[str, Any]],
    on_chunk: Callable[[dict[str, Any]], None] | None,
    on_end: Callable[[BaseException | None], Awaitable[None] | None],
) -> AsyncIterator[dict[str, Any]]:
    """Relay a stream, then run `on_end` exactly once — on completion, error or client disconnect.
    Stages use it to account and audit a stream once its true usage is known."""
    error: BaseException | None = None
    try:
        async for chunk in stream:
            if on_chunk is not None:
                on_chunk(chunk)
            yield chunk
    except BaseException as exc:
        error = exc
        raise
    finally:
        close = getattr(stream, "aclose", None)
        if close is not None:
            await close()
        result = on_end(error)
        if result is not None:
            await result
