"""Audit: the outermost stage. Every call — answered, refused or failed — appends one event to
the hash chain, and the answer is released only once that event is committed. A sub-call hands
the commit of its event to its parent, which waits for it with its own: one wait per answer,
and no answer released while an event of a call made for it is not yet in the chain.

What a client wrote is never recorded raw where it could carry PII: an error message that echoes
a model or collection name is scrubbed (the caller gets the scrubbed message too), and a model
name the platform does not know is recorded as its hash. Refusals of callers without a valid key
are recorded each up to `governance.audit_anonymous_per_minute`, then counted into one event.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from gureum.errors import AuthenticationFailed, GureumError
from gureum.flow.pipeline import finally_stream
from gureum.flow.types import Context, Next, Reply
from gureum.governance.audit import AuditEvent
from gureum.governance.pii.leaks import scrub
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
    model = ctx.model_label
    detail: dict[str, object] = {"model": model, "endpoint": ctx.op.name}
    if ctx.parent is not None:
        detail["parent"] = ctx.parent.request_id
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
        action=f"{ctx.origin}.{ctx.op.name}",
        decision=decision,
        tenant_id=p.tenant_id if p else None,
        user_id=p.user_id if p else None,
        key_id=p.key_id if p else None,
        request_id=ctx.request_id,
        resource=f"model:{model}" if model else None,
        status=status,
        cost=ctx.cost,
        detail=detail,
    )


class AnonymousRefusals:
    """How many refusals of callers without a valid key are written one by one per minute; the
    rest are counted, and the count of a past minute is written with the next one recorded."""

    WINDOW = 60.0

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self.clock = clock
        self.window = clock()
        self.written = 0
        self.counted = 0

    def admit(self) -> tuple[bool, int]:
        """(write this refusal?, refusals counted in windows now closed: write them as one event)."""
        now = self.clock()
        closed = 0
        if now - self.window >= self.WINDOW:
            closed, self.counted, self.written, self.window = self.counted, 0, 0, now
        if self.written < self.per_minute:
            self.written += 1
            return True, closed
        self.counted += 1
        return False, closed


class Audit:
    def __init__(self, recorder: Recorder, anonymous_per_minute: int = 120) -> None:
        self.recorder = recorder
        self.anonymous = AnonymousRefusals(anonymous_per_minute)

    async def _commit(self, ctx: Context, error: BaseException | None) -> None:
        if isinstance(error, GureumError):
            error.message = scrub(error.message)
        if ctx.principal is None and isinstance(error, AuthenticationFailed):
            write, counted = self.anonymous.admit()
            if counted:
                self.recorder.submit(audit=AuditEvent(action="api.refused_anonymous", decision="deny", status=401,
                                                      detail={"refusals": counted, "window_s": AnonymousRefusals.WINDOW}))
            if not write:
                return
        commits = [self.recorder.submit(audit=audit_event(ctx, error)), *ctx.child_audits]
        if ctx.parent is not None:
            ctx.parent.child_audits.extend(commits)
            return
        await asyncio.gather(*commits)

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        try:
            reply = await next(ctx)
        except BaseException as exc:
            await self._commit(ctx, exc)
            raise
        if reply.stream is None:
            await self._commit(ctx, None)
            return reply
        reply.stream = finally_stream(reply.stream, None, lambda err: self._commit(ctx, err))
        return reply
