"""Audit: the outermost stage. Every call — answered, refused or failed — appends one event to
the hash chain, and the answer is released only once that event is committed."""

from __future__ import annotations

import asyncio
import logging

from gureum.errors import GureumError
from gureum.flow.pipeline import finally_stream
from gureum.flow.types import Context, Next, Reply
from gureum.governance.audit import AuditEvent
from gureum.governance.recorder import Recorder

log = logging.getLogger("gureum.audit")


def audit_event(ctx: Context, error: BaseException | None) -> AuditEvent:
    p = ctx.principal
    status = ctx.status
    decision = ctx.decision
    if error is not None:
        if isinstance(error, GureumError):
            status = error.status
            if error.status in (401, 403) or error.code in ("policy_blocked", "budget_exceeded", "rate_limit_exceeded"):
                decision = "deny"
            else:
                decision = "error"
        else:
            status = 499 if isinstance(error, (asyncio.CancelledError, GeneratorExit)) else 500
            decision = "error"
    detail: dict[str, object] = {"model": ctx.model, "endpoint": ctx.endpoint.value}
    if ctx.deployment is not None:
        detail["deployment"] = ctx.deployment.id
        detail["region"] = ctx.deployment.region
        detail["usage"] = {"input": ctx.usage.prompt_tokens, "output": ctx.usage.completion_tokens}
    if ctx.pii_types:
        detail["pii_types"] = sorted(ctx.pii_types)
    if ctx.resources:
        detail["resources"] = ctx.resources
    if ctx.data_tags:
        detail["data_tags"] = sorted(ctx.data_tags)
    if ctx.cache:
        detail["cache"] = ctx.cache
    if ctx.audit_detail:
        detail.update(ctx.audit_detail)
    if error is not None:
        detail["error"] = getattr(error, "code", None) or type(error).__name__
        if isinstance(error, GureumError) and decision == "deny":
            detail["reason"] = error.message
    return AuditEvent(
        action=f"api.{ctx.endpoint.value}",
        decision=decision,
        tenant_id=p.tenant_id if p else None,
        user_id=p.user_id if p else None,
        key_id=p.key_id if p else None,
        request_id=ctx.request_id,
        resource=f"model:{ctx.model}" if ctx.model else None,
        status=status,
        cost=ctx.cost,
        detail=detail,
    )


class Audit:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        try:
            reply = await next(ctx)
        except BaseException as exc:
            await self.recorder.submit(audit=audit_event(ctx, exc))
            raise
        if reply.stream is None:
            await self.recorder.submit(audit=audit_event(ctx, None))
            return reply
        reply.stream = finally_stream(reply.stream, None, lambda err: self.recorder.submit(audit=audit_event(ctx, err)))
        return reply
