"""Context: fit the request into its token budget, after routing (it needs the chosen
candidates' context windows and the cheapest allowed deployment to summarise with).

With a `economy.context_budget` rule for the requested model or the tenant, a conversation longer
than the budget keeps its system prompt and recent turns; older turns become one summary
message — written by the cheapest chat deployment among the request's allowed candidates (so
residency rules hold for the summary too), or, if none answers in time, the extractive
fallback (the first sentence of each older message). The tokens removed are recorded in
`ctx.tokens_saved`; the summary call gets its own ledger row.

Around the call it also measures what `auto` routing needs: the latency of the deployment that
answered (whole response, or first chunk of a stream) and, for `auto` requests, what the
strongest candidate would have cost for the same tokens (`ctx.route["saved_vs_strongest"]`).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from gureum.cache.lru import TtlLru
from gureum.economy.context import compact, split_turns, transcript
from gureum.economy.settings import ContextBudget, EconomySettings
from gureum.flow.pipeline import finally_stream
from gureum.flow.stages.account import sub_call_row
from gureum.flow.types import Context, Endpoint, Next, Reply
from gureum.governance.recorder import Recorder
from gureum.providers.base import Usage
from gureum.routing.auto import LatencyTracker, strongest
from gureum.routing.catalog import Deployment, Plan
from gureum.routing.router import Router
from gureum.tokens import estimate_tokens

log = logging.getLogger("gureum.context")

SUMMARY_PROMPT = (
    "Summarise the earlier part of a conversation so that it can continue without it. Keep facts, names, numbers, "
    "decisions, constraints and open questions; drop pleasantries. Write in the language of the conversation "
    "(Korean stays Korean). Keep placeholders such as <PERSON_1> exactly as written. Answer with the summary only."
)
SUMMARY_MODEL = "context-summary"


class FitContext:
    def __init__(
        self,
        settings: EconomySettings,
        router: Router,
        latency: LatencyTracker,
        recorder: Recorder | None = None,
    ) -> None:
        self.settings = settings
        self.router = router
        self.latency = latency
        self.recorder = recorder
        self._summaries: TtlLru[str] = TtlLru(1024)

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        if ctx.endpoint in (Endpoint.CHAT, Endpoint.ANSWER) and ctx.principal is not None:
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

    def _summariser(self, ctx: Context) -> Deployment | None:
        chat = [d for d in ctx.candidates if d.settings.kind == "chat" and d.breaker.available()]
        if not chat:
            return None
        return min(chat, key=lambda d: (d.settings.price.input + d.settings.price.output, -d.tier))

    async def _summarise(self, ctx: Context, text: str, rule: ContextBudget) -> tuple[str | None, str | None]:
        """A model summary of the older turns, or (None, reason) so the caller falls back."""
        key = hashlib.sha256(f"{rule.summary_max_tokens}\n{text}".encode()).hexdigest()
        cached = self._summaries.get(key)
        if cached is not None:
            return cached, "reused"
        dep = self._summariser(ctx)
        if dep is None:
            return None, None
        room = dep.settings.context_window - rule.summary_max_tokens - estimate_tokens(SUMMARY_PROMPT) - 64
        if estimate_tokens(text) > room:  # keep the most recent part of the transcript
            text = text[-max(256, room):]
        body = {
            "messages": [{"role": "system", "content": SUMMARY_PROMPT}, {"role": "user", "content": text}],
            "max_tokens": rule.summary_max_tokens,
            "temperature": 0,
        }
        scratch: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            async with asyncio.timeout(rule.summary_timeout):
                used, result = await self.router.call(
                    Plan(SUMMARY_MODEL, [[dep]]), scratch, lambda d: d.provider.chat(body, d.model)
                )
        except Exception as exc:  # noqa: BLE001 — any failure means the extractive fallback
            log.warning("context summary failed on %s: %r; using the extractive summary", dep.id, exc)
            return None, f"{dep.id} failed; extractive fallback"
        choice = (result.body.get("choices") or [{}])[0]
        summary = ((choice.get("message") or {}).get("content") or "").strip()
        self._ledger(ctx, used, result.usage, (time.perf_counter() - started) * 1000.0)
        audit_detail = getattr(ctx, "audit_detail", None)
        if isinstance(audit_detail, dict):
            audit_detail["context_summary"] = {"deployment": used.id, "region": used.region}
        if not summary or choice.get("finish_reason") not in (None, "stop", "length"):
            return None, f"{used.id} gave no summary; extractive fallback"
        self._summaries.put(key, summary, 3600)
        return summary, used.id

    def _ledger(self, ctx: Context, dep: Deployment, usage: Usage, latency_ms: float) -> None:
        if self.recorder is None:
            return
        route = {"purpose": "context summary", "for": ctx.request_id}
        self.recorder.submit(ledger=sub_call_row(ctx, "summary", SUMMARY_MODEL, dep, usage, latency_ms, route))
