"""The response cache as the flow uses it: which requests may be read from or written to the
cache (the policy), the keys, the lookup order (exact: LRU → Redis/PostgreSQL; then semantic:
pgvector + the equivalence model), writes, invalidation, and the per-tenant live false-hit
estimate that tightens the semantic threshold (`record_shadow`).

Failures of the cache never fail a call: a read that errors or takes longer than
`store_timeout` is a miss, a write that does is skipped; both are logged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.cache import store
from gureum.cache.analysis import analyse
from gureum.cache.calibration import Estimate, ShadowEstimate, tighten
from gureum.cache.decision import Thresholds
from gureum.cache.exact import ExactCache
from gureum.cache.keys import CacheKeys, Policy, build_keys, policy_for
from gureum.cache.semantic import SemanticCache, SemanticHit
from gureum.cache.settings import CacheSettings
from gureum.cache.store import Answer

log = logging.getLogger("gureum.cache")

SWEEP_EVERY = 500  # writes between deletions of expired rows
OFF_VALUES = frozenset({"off", "no", "false", "0", "bypass", "no-store"})


@dataclass(frozen=True, slots=True)
class Decision:
    read: bool
    write: bool
    semantic: bool
    reason: str


@dataclass(slots=True)
class Hit:
    kind: str  # "exact" | "semantic"
    answer: Answer
    similarity: float | None = None
    reason: str = ""
    probability: float | None = None  # semantic: the model's probability that one answer serves both
    margin: float | None = None  # semantic: probability minus threshold (small = unsure)


@dataclass(slots=True)
class Miss:
    embedding: list[float] | None = None
    reason: str = "miss"
    probability: float | None = None  # semantic: the best candidate's, when one was decided on
    margin: float | None = None


def decide(settings: CacheSettings, policy: Policy, headers: dict[str, str], body: dict[str, Any],
           sampled: bool = True) -> Decision:
    """May this request be answered from, and stored into, the cache? `sampled`: the answer is
    sampled from a model (a chat), so `n` and temperature matter; an embedding is not.

    - `Cache-Control: no-store` or `x-gureum-cache: off` → neither;
    - `Cache-Control: no-cache` or `x-gureum-cache: refresh` → call the model, store the answer;
    - `x-gureum-cache: exact` → exact matches only;
    - `n` > 1 or a temperature above `max_temperature` → neither (the client asked for variety);
    - tenant/collection policy may switch caching or its semantic half off.
    """
    if not policy.enabled:
        return Decision(False, False, False, "disabled by policy")
    cc = {d.strip().split("=")[0].lower() for d in headers.get("cache-control", "").split(",") if d.strip()}
    mode = headers.get("x-gureum-cache", "").strip().lower()
    if "no-store" in cc or mode in OFF_VALUES:
        return Decision(False, False, False, "opted out by the request")
    if not sampled:
        read = "no-cache" not in cc and mode != "refresh"
        return Decision(read, True, False, "cacheable" if read else "refresh requested")
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        return Decision(False, False, False, "n > 1")
    temperature = body.get("temperature")
    if temperature is None:
        if not settings.cache_unset_temperature:
            return Decision(False, False, False, "temperature unset (cache_unset_temperature is off)")
    elif not isinstance(temperature, (int, float)) or temperature > settings.max_temperature:
        return Decision(False, False, False, f"temperature {temperature} > {settings.max_temperature}")
    read = "no-cache" not in cc and mode != "refresh"
    semantic = policy.semantic and mode != "exact"
    return Decision(read, True, semantic, "cacheable" if read else "refresh requested")


def storable(body: dict[str, Any] | None, allow_tool_calls: bool) -> bool:
    """Only complete, successful answers: one choice that stopped or hit its length limit."""
    if not isinstance(body, dict) or "error" in body:
        return False
    choices = body.get("choices")
    if choices is None:
        return True  # a non-chat answer shape (e.g. a grounded answer) without error
    if not isinstance(choices, list) or len(choices) != 1:
        return False
    choice = choices[0]
    finish = choice.get("finish_reason")
    message = choice.get("message") or {}
    if message.get("tool_calls") or message.get("function_call") or finish == "tool_calls":
        return allow_tool_calls and finish == "tool_calls"
    return finish in ("stop", "length") and isinstance(message.get("content"), str)


class ResponseCache:
    def __init__(
        self, settings: CacheSettings, engine: AsyncEngine, redis: Any | None = None, embedder: Any | None = None
    ) -> None:
        """`redis`: the platform's redis.asyncio client (exact entries are shared through it), or None."""
        self.settings = settings
        self.engine = engine
        self.redis = redis
        self.exact = ExactCache(engine, redis, settings.lru_entries, settings.lru_ttl)
        self.semantic = SemanticCache(engine, embedder)
        self.shadow = ShadowEstimate(settings.shadow_window, settings.shadow_min_compared)
        self._warm: asyncio.Task[None] | None = None
        self._writes = 0
        self._sweep: asyncio.Task[int] | None = None

    async def start(self, preload: bool = False) -> None:
        if preload and self.settings.enabled and self.settings.semantic:
            self._warm = asyncio.create_task(asyncio.to_thread(self.semantic.warm), name="gureum-cache-warm")

    async def close(self) -> None:
        if self._sweep is not None and not self._sweep.done():
            self._sweep.cancel()
        if self._warm is not None:
            try:
                await self._warm
            except Exception:  # noqa: BLE001 — a failed warm-up only means a slower first lookup
                log.warning("semantic cache warm-up failed", exc_info=True)

    def policy(self, tenant_id: str, model: str, collection: str | None = None) -> Policy:
        return policy_for(self.settings, tenant_id, model, collection)

    async def keys(
        self, body: dict[str, Any], model: str, tenant_id: str, user_id: str | None, principals: list[str], policy: Policy
    ) -> CacheKeys:
        generation = await store.generation(self.engine, tenant_id, policy.collection) if policy.collection else 0
        return build_keys(
            body=body, model=model, tenant_id=tenant_id, user_id=user_id, principals=principals, policy=policy,
            generation=generation,
        )

    def record_shadow(self, tenant_id: str, wrong: bool) -> Estimate:
        """One shadow comparison of a semantic hit (the model answered too; `wrong` when the
        answers differ). Returns the tenant's estimate; once it is over budget with confidence,
        the tenant's lookups use a tighter threshold (`calibration.ShadowEstimate`)."""
        self.shadow.record(tenant_id, wrong)
        return self.shadow.estimate(tenant_id, self.settings.false_hit_budget)

    def thresholds(self, tenant_id: str, policy: Policy) -> Thresholds:
        """The semantic decision thresholds for this request: the policy's fixed one, or those of
        its false-hit budget — raised while the tenant's live estimate is over budget."""
        if policy.threshold is not None:
            return Thresholds.fixed(policy.threshold)
        model = self.semantic.model
        base = model.thresholds(policy.false_hit_budget)
        estimate = self.shadow.estimate(tenant_id, policy.false_hit_budget)
        if not estimate.over_budget:
            return base
        tight = model.thresholds(estimate.effective_budget)
        return Thresholds(
            tighten(base.same, tight.same, policy.false_hit_budget, estimate.effective_budget),
            tighten(base.cross, tight.cross, policy.false_hit_budget, estimate.effective_budget),
        )

    async def lookup(self, keys: CacheKeys, policy: Policy, semantic: bool) -> Hit | Miss:
        timeout = self.settings.store_timeout
        try:
            async with asyncio.timeout(timeout):
                answer = await self.exact.get(keys.tenant_id, keys.model, keys.exact)
            if answer is not None:
                return Hit("exact", answer, 1.0, "same normalised request")
        except Exception as exc:  # noqa: BLE001 — a cache failure is a miss
            log.warning("exact cache lookup failed: %r", exc)
        if not (semantic and keys.scope and keys.query):
            return Miss(None, "exact miss" if semantic else "exact miss (semantic off)")
        if len(keys.query) > self.settings.semantic_max_chars:
            return Miss(None, f"exact miss; last turn longer than {self.settings.semantic_max_chars} chars")
        try:
            async with asyncio.timeout(self.settings.semantic_timeout):
                found = await self.semantic.lookup(keys.scope, keys.query, self.thresholds(keys.tenant_id, policy))
        except Exception as exc:  # noqa: BLE001
            log.warning("semantic cache lookup failed: %r", exc)
            return Miss(None, "semantic lookup failed")
        if isinstance(found, SemanticHit):
            hit = found.verdict
            return Hit("semantic", found.answer, hit.cosine, hit.reason, hit.probability, hit.margin)
        near = found.verdict
        return Miss(found.embedding, found.reason, near.probability if near else None, near.margin if near else None)

    async def save(self, keys: CacheKeys, policy: Policy, answer: Answer, embedding: list[float] | None) -> None:
        self.exact.remember(keys.exact, answer, policy.ttl)
        semantic = policy.semantic and keys.scope is not None and 0 < len(keys.query) <= self.settings.semantic_max_chars
        try:
            async with asyncio.timeout(self.settings.store_timeout + self.settings.semantic_timeout):
                analysis = None
                if semantic and embedding is None:
                    embedding = await self.semantic.embed(keys.query)
                if semantic and embedding is not None:
                    # Analysed once, here; lookups read it back (a miss analysed it already: memoised).
                    analysis = (await asyncio.to_thread(analyse, keys.query)).to_json()
                await self.exact.put_shared(keys.tenant_id, keys.model, keys.exact, answer, policy.ttl)
                if self.redis is None or semantic:
                    await store.upsert(
                        self.engine, key=keys.exact, tenant_id=keys.tenant_id, model=keys.model,
                        scope=keys.scope if semantic and embedding is not None else None,
                        collection=keys.collection, answer=answer, embedding=embedding if semantic else None,
                        ttl=policy.ttl, analysis=analysis,
                    )
        except Exception as exc:  # noqa: BLE001 — a failed write only costs a future hit
            log.warning("cache write failed: %r", exc)
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0 and (self._sweep is None or self._sweep.done()):
            # Expired rows are never served; deleting them now and then keeps the table small.
            self._sweep = asyncio.create_task(self._sweep_expired(), name="gureum-cache-sweep")

    async def _sweep_expired(self) -> int:
        try:
            return len(await store.purge(self.engine, expired=True))
        except Exception as exc:  # noqa: BLE001 — the next sweep will try again
            log.warning("cache sweep failed: %r", exc)
            return 0

    async def purge(self, tenant_id: str | None = None, model: str | None = None, collection: str | None = None) -> int:
        """Drop the cached answers of a tenant (all tenants: None), narrowed to one requested model
        and/or one collection; returns how many entries were deleted. A collection's answers are
        voided by bumping its generation, which no replica's key can miss."""
        if collection is not None:
            if tenant_id is None:
                raise ValueError("a collection is purged within one tenant")
            deleted = await store.purge(self.engine, tenant_id=tenant_id, model=model, collection=collection)
            await store.bump(self.engine, tenant_id, collection)
            return len(deleted)
        deleted = await store.purge(self.engine, tenant_id=tenant_id, model=model)
        return len(deleted | await self.exact.purge(tenant_id, model))


def answer_from(body: dict[str, Any], usage: dict[str, Any], cost: float, deployment: str | None, query: str) -> Answer:
    return Answer(body=body, usage=usage, cost=cost, deployment=deployment, query=query, created=time.time())


async def bump_collection(tenant_id: str, collection: str, engine: AsyncEngine) -> int:
    """Invalidate every cached answer of the tenant's `rag/<collection>`: bump the collection's generation,
    which is read afresh for every key of its answers, so no replica — and no LRU — can hit an
    older entry. Call it after a collection's documents change. Returns the new generation."""
    return await store.bump(engine, tenant_id, collection)
