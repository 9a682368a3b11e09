"""Limits: rate limits and budgets around the call. One counter round trip reserves everything
before `next` (requests, estimated tokens, each budget's worst case); one settles it after — on
the reply, at the end of a stream, or on an error (which releases the hold)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.errors import BudgetExceeded, RateLimited, ServiceUnavailable
from gureum.flow import policy as flow_policy
from gureum.flow.pipeline import finally_stream
from gureum.flow.text_slots import input_tokens as estimate_input
from gureum.flow.types import Context, Next, Reply
from gureum.governance import budgets as budgets_
from gureum.governance import limits as limits_
from gureum.governance.counters import Counters, CounterUnavailable, Verdict
from gureum.governance.policy import Policy
from gureum.governance.settings import GovernanceSettings
from gureum.providers.base import Usage
from gureum.tokens import estimate_tokens

log = logging.getLogger("gureum.limits")

WARNING_HEADER = "x-gureum-budget-warning"


def _max_output(ctx: Context) -> int | None:
    if ctx.op.call != "chat":
        return 0
    for name in ("max_completion_tokens", "max_tokens"):
        value = ctx.body.get(name)
        if isinstance(value, int) and value > 0:
            return value
    return None


class _Meter:
    """Counts streamed text so a stream cut short without `usage` is still charged."""

    __slots__ = ("chars",)

    def __init__(self) -> None:
        self.chars: list[str] = []

    def __call__(self, chunk: dict[str, Any]) -> None:
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str):
                self.chars.append(delta["content"])


class Limits:
    def __init__(
        self,
        policy: Policy,
        counters: Counters,
        engine: AsyncEngine | None,
        settings: GovernanceSettings,
        hold_seconds: float = 300.0,
    ) -> None:
        self.policy = policy
        self.counters = counters
        self.engine = engine
        self.settings = settings
        self.tz = ZoneInfo(settings.timezone)
        self.hold_ms = int(hold_seconds * 1000)

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        p = ctx.principal
        assert p is not None, "identify runs before limits"
        rules = flow_policy.rules(ctx, self.policy)
        if not (rules.budgets or rules.rpm or rules.tpm or rules.key_rpm or rules.key_tpm):
            return await next(ctx)
        input_tokens = estimate_input(ctx.op.text, ctx.body)
        max_out = _max_output(ctx)
        rates = limits_.applicable(rules, p, input_tokens + (max_out or 0), self.settings.redis_prefix)
        if ctx.parent is not None:
            # A sub-call is not another request of the caller's (their request rate counted its
            # parent); its tokens and cost count like any call's.
            rates = [r for r in rates if r.unit != "requests"]
        applied: list[budgets_.Applied] = []
        if rules.budgets:
            permitted = flow_policy.permitted(ctx, self.policy).deployments()
            worst = max((d.worst_case_cost(input_tokens, max_out) for d in permitted), default=0.0)
            applied = budgets_.applicable(
                rules.budgets, p, worst, self.settings.redis_prefix, self.tz, datetime.now(UTC)
            )
        for lim in rates:
            if lim.spec.cost > lim.spec.limit:
                raise RateLimited(
                    f"Request too large: it needs about {lim.spec.cost} tokens but the limit is {lim.name}; "
                    "send less input or a smaller max_tokens.",
                    headers={"x-should-retry": "false"},
                )
        verdict = await self._reserve(ctx, rates, applied)
        if verdict is None:  # counters unreachable and fail_open
            return await next(ctx)
        headers = limits_.headers(rates, verdict.rates)
        if applied:
            ctx.budget_pressure = budgets_.pressure(applied, verdict.budgets)
            warning = self._soft_warning(applied, verdict.budgets)
            if warning:
                headers[WARNING_HEADER] = warning
        settled = False

        async def settle(error: BaseException | None, meter: _Meter | None = None) -> None:
            nonlocal settled
            if settled:
                return
            settled = True
            await self._settle(ctx, rates, applied, input_tokens, meter)

        try:
            reply = await next(ctx)
        except BaseException:
            await settle(None)
            raise
        reply.headers.update(headers)
        if reply.stream is None:
            await settle(None)
            return reply
        meter = _Meter()
        stream = self._held(ctx, reply.stream, applied) if applied else reply.stream
        reply.stream = finally_stream(stream, meter, lambda err: settle(err, meter))
        return reply

    async def _held(self, ctx: Context, stream: AsyncIterator[dict[str, Any]],
                    applied: list[budgets_.Applied]) -> AsyncIterator[dict[str, Any]]:
        """Relay a stream while its budget holds are renewed every third of their life, so a
        stream of any length (or read by a slow client) keeps its reservation to the end."""
        specs = [a.spec for a in applied]

        async def renew() -> None:
            while True:
                await asyncio.sleep(self.hold_ms / 3000)
                try:
                    await self.counters.renew(ctx.request_id, specs, self.hold_ms)
                except CounterUnavailable as exc:
                    log.error("could not renew the budget hold of %s (%s)", ctx.request_id, exc)

        task = asyncio.create_task(renew(), name=f"gureum-hold-{ctx.request_id}")
        try:
            async for chunk in stream:
                yield chunk
        finally:
            task.cancel()

    # --- reserve ---------------------------------------------------------------------------
    async def _reserve(
        self, ctx: Context, rates: list[limits_.Limit], applied: list[budgets_.Applied]
    ) -> Verdict | None:
        specs = [a.spec for a in applied]
        try:
            for _ in range(len(applied) + 2):  # each pass seeds at most one missing counter
                verdict = await self.counters.reserve(ctx.request_id, [r.spec for r in rates], specs, self.hold_ms)
                if verdict.kind != "seed":
                    break
                await self._seed(ctx, applied[verdict.index])
            else:
                raise ServiceUnavailable("Budget counters could not be initialised; retry shortly.")
        except CounterUnavailable as exc:
            if self.settings.fail_open:
                log.error("limits not enforced for %s: counter store unreachable (%s)", ctx.request_id, exc)
                return None
            raise ServiceUnavailable(
                "Rate limits and budgets cannot be checked right now (counter store unreachable); retry shortly.",
                headers={"retry-after": "2"},
            ) from None
        if verdict.kind == "rate":
            lim = rates[verdict.index]
            wait = limits_.retry_after(verdict.retry_ms)
            raise RateLimited(
                f"Rate limit reached: {lim.name}. Retry in {limits_.duration(verdict.retry_ms)}.",
                headers={
                    "retry-after": wait,
                    "retry-after-ms": str(verdict.retry_ms),
                    f"x-ratelimit-limit-{lim.unit}": str(lim.spec.limit),
                    f"x-ratelimit-remaining-{lim.unit}": "0",
                    f"x-ratelimit-reset-{lim.unit}": limits_.duration(verdict.retry_ms),
                },
            )
        if verdict.kind == "budget":
            a = applied[verdict.index]
            spent, reserved = verdict.budgets[0]
            resets = a.window.end
            until_reset = max(1, int((resets - datetime.now(UTC)).total_seconds()))
            raise BudgetExceeded(
                f"Budget exceeded: the {a.name} is {budgets_.money(a.spec.limit)} and {budgets_.money(spent)} is "
                f"spent ({budgets_.money(reserved)} held by requests in flight); this request may cost up to "
                f"{budgets_.money(a.spec.amount)}. It resets at {resets.isoformat()}.",
                headers={"retry-after": str(until_reset), "x-should-retry": "false"},
            )
        return verdict

    async def _seed(self, ctx: Context, a: budgets_.Applied) -> None:
        assert ctx.principal is not None
        spent = 0
        if self.engine is not None:
            spent = await budgets_.ledger_spent(self.engine, ctx.principal.tenant_id, a)
        await self.counters.seed(a.spec, spent)

    def _soft_warning(self, applied: list[budgets_.Applied], before: list[tuple[int, int]]) -> str | None:
        notes = []
        for a, (spent, reserved) in zip(applied, before, strict=False):
            if a.rule.mode == "soft" and spent + reserved + a.spec.amount > a.spec.limit:
                notes.append(f"{a.name} {budgets_.money(a.spec.limit)} reached ({budgets_.money(spent)} spent)")
        if not notes:
            return None
        text = "; ".join(notes)
        log.warning("soft budget: %s", text)
        return text.encode("ascii", "replace").decode()[:300]

    # --- settle ----------------------------------------------------------------------------
    async def _settle(
        self,
        ctx: Context,
        rates: list[limits_.Limit],
        applied: list[budgets_.Applied],
        input_tokens: int,
        meter: _Meter | None,
    ) -> None:
        usage = ctx.usage
        if ctx.cache is not None:
            usage = Usage()
        elif usage.total_tokens == 0 and ctx.deployment is not None:
            # No usage reported (a stream cut short): charge the estimate.
            usage = Usage(input_tokens, estimate_tokens("".join(meter.chars)) if meter else 0)
        cost = ctx.cost if ctx.cache is not None else ctx.deployment.cost(usage) if ctx.deployment is not None else 0.0
        # Rounded up: rounding each call to the nearest micro-unit let many small calls together
        # spend past a hard budget that the counter said they kept to.
        actual = budgets_.to_units(cost)
        try:
            await self.counters.settle(
                ctx.request_id,
                [(a.spec, actual) for a in applied],
                [(r.spec, usage.total_tokens - r.spec.cost) for r in rates if r.unit == "tokens"],
            )
        except CounterUnavailable as exc:
            log.error("could not settle %s (%s): its hold expires on its own; the ledger has the cost",
                      ctx.request_id, exc)
        except Exception:
            log.exception("could not settle %s", ctx.request_id)
