"""Context: fit the request into its token budget, after routing (it needs the chosen
candidates' context windows and the cheapest allowed deployment to summarise with).

With a `economy.context_budget` rule for the requested model or the tenant, a conversation longer
than the budget keeps its system prompt and recent turns; older turns become one summary
message — written through the gateway as a sub-call of the request (`summary`: the same model,
so the same allow-list and residency rules, routed to its cheapest permitted deployment, with
its own ledger row, budget charge and audit event), or, if none answers in time, the extractive
fallback (the first sentence of each older message). The tokens removed are recorded in
`ctx.tokens_saved`.

Around the call it also measures what `auto` routing needs: the latency of the deployment that
answered (whole response, or first chunk of a stream) and, for `auto` requests, what the
strongest candidate would have cost for the same tokens (`ctx.route["saved_vs_strongest"]`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time

from gureum.cache.lru import TtlLru
from gureum.economy.context import compact, split_turns, transcript
from gureum.economy.settings import ContextBudget, EconomySettings
from gureum.flow.gateway import Gateway, Request
from gureum.flow.operations import SUMMARY
from gureum.flow.pipeline import finally_stream
from gureum.flow.types import Context, Next, Reply
from gureum.routing.auto import LatencyTracker, strongest
from gureum.tokens import estimate_tokens

log = logging.getLogger("gureum.context")

SUMMARY_PROMPT = (
    "Summarise the earlier part of a conversation so that it can continue without it. Keep facts, names, numbers, "
    "decisions, constraints and open questions; drop pleasantries. Write in the language of the conversation "
    "(Korean stays Korean). Keep placeholders such as <PERSON_1> exactly as written. Answer with the summary only."
)
SUMMARY_ROOM = 64  # tokens kept free beside the summary prompt and the summary


class FitContext:
    def __init__(self, settings: EconomySettings, gateway: Gateway, latency: LatencyTracker) -> None:
        self.settings = settings
        self.gateway = gateway
        self.latency = latency
        self._summaries: TtlLru[str] = TtlLru(1024)

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        if ctx.op.fit_context and ctx.principal is not None:
            await self._fit(ctx)
        started = time.perf_counter()
        reply = await next(ctx)
        if ctx.deployment is not None:
            kind = "stream" if reply.stream is not None else "full"
            self.latency.observe(ctx.deployment.id, kind, (time.perf_counter() - started) * 1000.0)
        if "auto" in ctx.route:
            if reply.stream is None:
                self._savings(ctx)
            else:
                reply.stream = finally_stream(reply.stream, None, lambda err: None if err else self._savings(ctx))
        return reply

    # -- routing savings ---------------------------------------------------------------------

    @staticmethod
    def _savings(ctx: Context) -> None:
        dep = ctx.deployment
        strong = strongest(ctx.candidates)
        if dep is None or strong is None:
            return
        actual = dep.cost(ctx.usage)
        would = strong.cost(ctx.usage)
        ctx.route["strongest_cost"] = round(would, 10)
        ctx.route["saved_vs_strongest"] = round(would - actual, 10)

    # -- context budget ----------------------------------------------------------------------

    def _budget(self, ctx: Context, rule: ContextBudget) -> int:
        budget = rule.max_input_tokens
        if ctx.candidates:
            first = ctx.candidates[0].settings
            out = ctx.body.get("max_tokens") or ctx.body.get("max_completion_tokens")
            reserve = int(out) if isinstance(out, int) else min(first.max_output_tokens, first.context_window // 4)
            budget = min(budget, max(64, first.context_window - reserve))
        return budget

    async def _fit(self, ctx: Context) -> None:
        p = ctx.principal
        assert p is not None
        requested = str(ctx.route.get("requested") or ctx.model)
        rule = self.settings.budget_for(requested, p.tenant_id)
        messages = ctx.body.get("messages")
        if rule is None or not isinstance(messages, list) or not messages:
            return
        budget = self._budget(ctx, rule)
        tools = ctx.body.get("tools") or None
        first = compact(messages, budget, rule.keep_recent_turns, tools=tools, summary_max_tokens=rule.summary_max_tokens)
        if first.method == "none":
            return
        summary = None
        summariser = None
        if rule.summarize and first.turns_compacted:
            old = split_turns(messages, rule.keep_recent_turns).old
            summary, summariser = await self._summarise(ctx, transcript(old), rule)
        result = first if summary is None else compact(
            messages, budget, rule.keep_recent_turns, tools=tools, summary=summary,
            summary_max_tokens=rule.summary_max_tokens,
        )
        ctx.body = {**ctx.body, "messages": result.messages}
        ctx.tokens_saved += result.saved
        ctx.route["context"] = {
            "budget": budget, "before": result.before, "after": result.after, "saved": result.saved,
            "method": result.method, "turns_compacted": result.turns_compacted, "summariser": summariser,
            **({"notes": result.notes} if result.notes else {}),
        }

    async def _summarise(self, ctx: Context, text: str, rule: ContextBudget) -> tuple[str | None, str | None]:
        """A model summary of the older turns, or (None, reason) so the caller falls back."""
        assert ctx.principal is not None
        key = hashlib.sha256(f"{rule.summary_max_tokens}\n{text}".encode()).hexdigest()
        cached = self._summaries.get(key)
        if cached is not None:
            return cached, "reused"
        chat = [d for d in ctx.candidates if d.breaker.available()]
        if not chat:
            return None, None
        window = min(d.settings.context_window for d in chat)
        room = window - rule.summary_max_tokens - estimate_tokens(SUMMARY_PROMPT) - SUMMARY_ROOM
        if estimate_tokens(text) > room:  # keep the most recent part of the transcript
            text = text[-max(256, room):]
        body = {
            "messages": [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": text}],
            "max_tokens": rule.summary_max_tokens,
            "temperature": 0,
        }
        try:
            async with asyncio.timeout(rule.summary_timeout):
                reply = await self.gateway.complete(ctx.principal, Request(SUMMARY, body, ctx.model), parent=ctx)
        except Exception as exc:  # noqa: BLE001 — any failure means the extractive fallback
            log.warning("context summary for %s failed: %r; using the extractive summary", ctx.request_id, exc)
            return None, "summary failed; extractive fallback"
        used = reply.headers.get("x-gureum-deployment")
        ctx.audit_detail["context_summary"] = {"request_id": reply.headers.get("x-request-id"), "deployment": used}
        choice = ((reply.body or {}).get("choices") or [{}])[0]
        summary = ((choice.get("message") or {}).get("content") or "").strip()
        if not summary or choice.get("finish_reason") not in (None, "stop", "length"):
            return None, f"{used} gave no summary; extractive fallback"
        self._summaries.put(key, summary, 3600)
        return summary, used
