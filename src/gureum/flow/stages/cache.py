"""Cache: answer from the response cache when the policy allows, else call on and store a
complete answer. It runs after the guard (it sees and stores the PII-masked request and answer,
so the guard's unmasking applies to cached answers like to fresh ones) and before routing.

For RAG answers it runs after retrieval: the grounded prompt (the passages the caller may read)
is part of the key, and so are the caller's ACL principals and the collection's generation — so
a hit never crosses ACL scopes and never outlives a document change. Retrieval itself still runs
on a hit; the cache saves the generation call.

A hit costs nothing: `ctx.cache` is "exact" or "semantic", the cost is 0, and `ctx.cost_saved`
is what the stored answer cost when it was produced. Streamed requests get a hit as a stream.

The semantic half embeds the last user turn with the embedded e5 model in process — the one
model call that does not go through the gateway as a sub-call of its own, because it runs on
every cacheable request and a sub-call's ledger row and audit event each time would double the
cost of the cache it serves. It is governed all the same: it runs only where residency allows
the call's data in region `local`, and its tokens are counted in the call's ledger row
(`route.cache_embedding`).

A share of semantic hits (`cache.shadow_share`) is also answered by the model in the
background: a `shadow` child request through the gateway, which this stage answers by calling
on and comparing the fresh answer with the one the cache would serve (`gureum.cache.shadow`).
The comparison lands in the child's ledger row (`route.shadow`) and in the tenant's live
false-hit estimate.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from gureum.cache.keys import CacheKeys, Policy
from gureum.cache.service import Hit, ResponseCache, answer_from, decide, storable
from gureum.cache.shadow import answer_text, compare
from gureum.errors import GureumError
from gureum.flow import policy as flow_policy
from gureum.flow.gateway import Gateway, Request
from gureum.flow.operations import SHADOW
from gureum.flow.types import Context, Next, Reply
from gureum.metrics import CACHE_FALSE_HITS, CACHE_SHADOW
from gureum.governance.policy import Policy as GovernancePolicy
from gureum.providers.base import Usage
from gureum.tokens import estimate_tokens

log = logging.getLogger("gureum.cache")

CHUNK_CHARS = 24  # size of the pieces a cached answer is re-streamed in
EMBED_REGION = "local"  # where the semantic half's embedder runs


class Cache:
    def __init__(self, cache: ResponseCache, policy: GovernancePolicy, gateway: Gateway | None = None) -> None:
        """`gateway`: where shadow samples are sent (None: no shadow sampling)."""
        self.cache = cache
        self.policy = policy
        self.gateway = gateway
        self._shadows: set[asyncio.Task[None]] = set()

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        p = ctx.principal
        if ctx.op.compare_cached and p is not None:
            return await self._compare(ctx, next)
        if not ctx.op.cacheable or p is None:
            return await next(ctx)
        # RAG answers: the retrieval stage has already grounded the prompt and named the collection.
        collection = (ctx.route.get("rag") or {}).get("collection")
        policy = self.cache.policy(p.tenant_id, ctx.model, collection)
        decision = decide(self.cache.settings, policy, ctx.headers, ctx.body, sampled=ctx.op.call == "chat")
        if not (decision.read or decision.write):
            return _tag(await next(ctx), "bypass")
        keys = await self.cache.keys(
            ctx.body, ctx.model, p.tenant_id, p.user_id or p.key_id, p.principals(), policy
        )
        if policy.semantic and keys.query:
            if flow_policy.region_allowed(ctx, self.policy, EMBED_REGION):
                ctx.route["cache_embedding"] = {"tokens": estimate_tokens(keys.query), "region": EMBED_REGION}
            else:
                policy = replace(policy, semantic=False)
                decision = replace(decision, semantic=False)
        embedding = None
        if decision.read:
            found = await self.cache.lookup(keys, policy, decision.semantic)
            if isinstance(found, Hit):
                if found.kind == "semantic" and collection is None:
                    self._maybe_shadow(ctx)
                return self._serve(ctx, found)
            embedding = found.embedding
        reply = await next(ctx)
        if reply.stream is None:
            if storable(reply.body, self.cache.settings.cache_tool_calls):
                await self.cache.save(keys, policy, self._answer(ctx, reply.body or {}, keys), embedding)
            return _tag(reply, "miss" if decision.read else "refresh")
        reply.stream = self._capture(ctx, reply.stream, keys, policy, embedding)
        return _tag(reply, "miss" if decision.read else "refresh")

    def _maybe_shadow(self, ctx: Context) -> None:
        share = self.cache.settings.shadow_share
        if self.gateway is None or share <= 0 or random.random() >= share:
            return
        task = asyncio.create_task(self._shadow(ctx), name="gureum-cache-shadow")
        self._shadows.add(task)
        task.add_done_callback(self._shadows.discard)

    async def _shadow(self, ctx: Context) -> None:
        assert self.gateway is not None and ctx.principal is not None
        body = {k: v for k, v in ctx.body.items() if k not in ("stream", "stream_options")}
        try:
            await self.gateway.complete(ctx.principal, Request(SHADOW, body, ctx.model), parent=ctx)
        except GureumError as exc:  # e.g. the budget is spent: the sample is skipped, the refusal audited
            log.info("shadow sample of %s not taken: %s", ctx.request_id, exc.message)

    async def _compare(self, ctx: Context, next: Next) -> Reply:
        """A shadow child: what would the cache serve, what does the model say now, do they differ?"""
        p = ctx.principal
        assert p is not None
        policy = self.cache.policy(p.tenant_id, ctx.model)
        keys = await self.cache.keys(ctx.body, ctx.model, p.tenant_id, p.user_id or p.key_id, p.principals(), policy)
        found = await self.cache.lookup(keys, policy, semantic=True)
        reply = await next(ctx)
        served = answer_text(found.answer.body) if isinstance(found, Hit) else None
        fresh = answer_text(reply.body)
        if served is None or fresh is None:
            ctx.route["shadow"] = {"compared": False}
            return reply
        result = await compare(self.cache.semantic, served, fresh, self.cache.settings.shadow_answer_similarity)
        if result is None:
            ctx.route["shadow"] = {"compared": False}
            return reply
        estimate = self.cache.record_shadow(p.tenant_id, result.different)
        CACHE_SHADOW.labels("different" if result.different else "same").inc()
        CACHE_FALSE_HITS.labels(p.tenant_id).set(estimate.rate)
        ctx.route["shadow"] = {"compared": True, **result.to_json(), "estimate": round(estimate.rate, 4)}
        return reply

    def _answer(self, ctx: Context, body: dict[str, Any], keys: CacheKeys) -> Any:
        dep = ctx.deployment
        cost = dep.cost(ctx.usage) if dep is not None else 0.0
        return answer_from(body, ctx.usage.to_openai(), cost, dep.id if dep else None, keys.query)

    def _serve(self, ctx: Context, hit: Hit) -> Reply:
        answer = hit.answer
        usage = Usage.from_openai(answer.usage)
        ctx.cache = hit.kind
        ctx.cost = 0.0
        ctx.usage = Usage()
        ctx.cost_saved = answer.cost
        ctx.tokens_saved += usage.total_tokens
        ctx.route["cache"] = {
            "kind": hit.kind,
            "similarity": round(hit.similarity, 4) if hit.similarity is not None else None,
            "why": hit.reason,
            "origin": answer.deployment,
            "age_s": round(time.time() - answer.created, 1),
            "saved": answer.cost,
        }
        ctx.route["reason"] = f"cache {hit.kind} hit ({hit.reason})"
        headers = {"x-gureum-cache-age": str(int(time.time() - answer.created))}
        if answer.deployment:
            headers["x-gureum-cache-origin"] = answer.deployment
        if hit.similarity is not None and hit.kind == "semantic":
            headers["x-gureum-cache-similarity"] = f"{hit.similarity:.4f}"
        body = _replayed(answer.body, ctx)
        if ctx.stream:
            include_usage = bool((ctx.body.get("stream_options") or {}).get("include_usage"))
            return Reply(stream=_restream(body, include_usage), headers=headers)
        return Reply(body=body, headers=headers)

    async def _capture(
        self,
        ctx: Context,
        stream: AsyncIterator[dict[str, Any]],
        keys: CacheKeys,
        policy: Policy,
        embedding: list[float] | None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Relay the stream; once it has ended normally, store it as one chat.completion."""
        parts: list[str] = []
        finish: str | None = None
        tool_calls = False
        first: dict[str, Any] | None = None
        async for chunk in stream:
            if first is None:
                first = chunk
            for choice in chunk.get("choices") or ():
                delta = choice.get("delta") or {}
                if isinstance(delta.get("content"), str):
                    parts.append(delta["content"])
                if delta.get("tool_calls") or delta.get("function_call"):
                    tool_calls = True
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            yield chunk
        if first is None or tool_calls or finish not in ("stop", "length"):
            return
        body = {
            "id": first.get("id"), "object": "chat.completion", "created": first.get("created"),
            "model": first.get("model"), "system_fingerprint": first.get("system_fingerprint"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(parts)},
                         "logprobs": None, "finish_reason": finish}],
            "usage": ctx.usage.to_openai(),
        }
        await self.cache.save(keys, policy, self._answer(ctx, body, keys), embedding)


def _tag(reply: Reply, state: str) -> Reply:
    reply.headers.setdefault("x-gureum-cache", state)
    return reply


def _replayed(stored: dict[str, Any], ctx: Context) -> dict[str, Any]:
    body = dict(stored)
    body["model"] = ctx.model
    if body.get("object") == "list":  # embeddings: no id; nothing was spent on them
        body["usage"] = {"prompt_tokens": 0, "total_tokens": 0}
        return body
    body["id"] = "chatcmpl-" + ctx.request_id.removeprefix("req_")
    body["created"] = int(time.time())
    if "choices" in body:
        body["usage"] = Usage().to_openai()  # nothing was spent on this answer
    return body


async def _restream(body: dict[str, Any], include_usage: bool) -> AsyncIterator[dict[str, Any]]:
    base = {"id": body.get("id"), "object": "chat.completion.chunk", "created": body.get("created"),
            "model": body.get("model"), "system_fingerprint": body.get("system_fingerprint")}
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    text = message.get("content") or ""
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    for i in range(0, len(text), CHUNK_CHARS):
        yield {**base, "choices": [{"index": 0, "delta": {"content": text[i : i + CHUNK_CHARS]}, "finish_reason": None}]}
    if message.get("tool_calls"):
        calls = [{"index": i, **c} for i, c in enumerate(message["tool_calls"])]
        yield {**base, "choices": [{"index": 0, "delta": {"tool_calls": calls}, "finish_reason": None}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": choice.get("finish_reason", "stop")}]}
    if include_usage:
        yield {**base, "choices": [], "usage": body.get("usage") or Usage().to_openai()}
