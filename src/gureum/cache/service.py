"""The response cache as the flow uses it: which requests may be read from or written to the
cache (the policy), the keys, the lookup order (exact: LRU → Redis/PostgreSQL; then semantic:
pgvector + term guard), writes, and invalidation.

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
from gureum.cache.exact import ExactCache
from gureum.cache.keys import CacheKeys, Policy, build_keys, policy_for
from gureum.cache.semantic import SemanticCache, SemanticHit
from gureum.cache.settings import CacheSettings
from gureum.cache.store import Answer

log = logging.getLogger("gureum.cache")

_ACTIVE: list[ResponseCache] = []
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


@dataclass(slots=True)
class Miss:
    embedding: list[float] | None = None
    reason: str = "miss"


def decide(settings: CacheSettings, policy: Policy, headers: dict[str, str], body: dict[str, Any]) -> Decision:
    """May this request be answered from, and stored into, the cache?

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
        self._warm: asyncio.Task[None] | None = None
        self._writes = 0
        self._sweep: asyncio.Task[int] | None = None

    async def start(self, preload: bool = False) -> None:
        if preload and self.settings.enabled and self.settings.semantic:
            self._warm = asyncio.create_task(asyncio.to_thread(self.semantic.warm), name="gureum-cache-warm")
        _ACTIVE.append(self)

    async def close(self) -> None:
        if self in _ACTIVE:
            _ACTIVE.remove(self)
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
        generation = await store.generation(self.engine, policy.collection) if policy.collection else 0
        return build_keys(
            body=body, model=model, tenant_id=tenant_id, user_id=user_id, principals=principals, policy=policy,
            generation=generation,
        )

    async def lookup(self, keys: CacheKeys, policy: Policy, semantic: bool) -> Hit | Miss:
        timeout = self.settings.store_timeout
        try:
            async with asyncio.timeout(timeout):
                answer = await self.exact.get(keys.tenant_id, keys.exact)
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
                found = await self.semantic.lookup(keys.scope, keys.query, policy.threshold, policy.min_term_overlap)
        except Exception as exc:  # noqa: BLE001
            log.warning("semantic cache lookup failed: %r", exc)
            return Miss(None, "semantic lookup failed")
        if isinstance(found, SemanticHit):
            return Hit("semantic", found.answer, found.similarity, found.reason)
        return Miss(found.embedding, found.reason)

    async def save(self, keys: CacheKeys, policy: Policy, answer: Answer, embedding: list[float] | None) -> None:
        self.exact.remember(keys.exact, answer, policy.ttl)
        semantic = policy.semantic and keys.scope is not None and 0 < len(keys.query) <= self.settings.semantic_max_chars
        try:
            async with asyncio.timeout(self.settings.store_timeout + self.settings.semantic_timeout):
                if semantic and embedding is None:
                    embedding = await self.semantic.embed(keys.query)
                await self.exact.put_shared(keys.tenant_id, keys.exact, answer, policy.ttl)
                if self.redis is None or semantic:
                    await store.upsert(
                        self.engine, key=keys.exact, tenant_id=keys.tenant_id,
                        scope=keys.scope if semantic and embedding is not None else None,
                        collection=keys.collection, answer=answer, embedding=embedding if semantic else None,
                        ttl=policy.ttl,
                    )
        except Exception as exc:  # noqa: BLE001 — a failed write only costs a future hit
            log.warning("cache write failed: %r", exc)
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0 and (self._sweep is None or self._sweep.done()):
            # Expired rows are never served; deleting them now and then keeps the table small.
            self._sweep = asyncio.create_task(self._sweep_expired(), name="gureum-cache-sweep")

    async def _sweep_expired(self) -> int:
        try:
            return await store.purge(self.engine, expired=True)
        except Exception as exc:  # noqa: BLE001 — the next sweep will try again
            log.warning("cache sweep failed: %r", exc)
            return 0

    async def purge(self, tenant_id: str | None = None, collection: str | None = None) -> int:
        """Drop a tenant's or a collection's entries everywhere (this process's LRU included)."""
        self.exact.lru.clear()
        n = await store.purge(self.engine, tenant_id=tenant_id, collection=collection)
        if tenant_id is not None:
            n += await self.exact.purge_tenant(tenant_id)
        return n


def answer_from(body: dict[str, Any], usage: dict[str, Any], cost: float, deployment: str | None, query: str) -> Answer:
    return Answer(body=body, usage=usage, cost=cost, deployment=deployment, query=query, created=time.time())


async def bump_collection(collection_id: str, engine: AsyncEngine | None = None) -> int:
    """Invalidate every cached answer of `rag/<collection_id>`: bump the collection's generation
    (part of every key of its answers, so no replica can hit an older entry) and delete its rows.
    Call it after a collection's documents change. Without `engine`, the running platform's
    cache is used (inside the server); a CLI or job passes its store's engine. Returns the new
    generation."""
    if engine is None:
        if not _ACTIVE:
            raise RuntimeError("no response cache is running in this process; pass the store's engine")
        engine = _ACTIVE[-1].engine
    generation = await store.bump(engine, collection_id)
    for cache in _ACTIVE:
        if cache.engine is engine:
            cache.exact.lru.clear()
    return generation
