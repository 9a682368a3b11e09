"""The exact cache: an in-process LRU in front of the shared store — Redis when configured (one
key per answer, expiring by itself), else the PostgreSQL `cache_entries` row that also serves the
semantic cache. Keys come from `gureum.cache.keys`; a hit means the normalised, masked request
was byte-for-byte the same within its scope."""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.cache import store
from gureum.cache.lru import TtlLru
from gureum.cache.store import Answer

log = logging.getLogger("gureum.cache")

REDIS_PREFIX = "gureum:cache:"


def redis_key(tenant_id: str, key: str) -> str:
    # The tenant is in the Redis key so one tenant's entries can be purged by pattern.
    return f"{REDIS_PREFIX}{tenant_id}:{key}"


class ExactCache:
    def __init__(self, engine: AsyncEngine, redis: Any | None, lru_entries: int, lru_ttl: float) -> None:
        self.engine = engine
        self.redis = redis
        self.lru: TtlLru[Answer] = TtlLru(lru_entries)
        self.lru_ttl = lru_ttl

    async def get(self, tenant_id: str, key: str) -> Answer | None:
        answer = self.lru.get(key)
        if answer is not None:
            return answer
        if self.redis is not None:
            raw = await self.redis.get(redis_key(tenant_id, key))
            answer = Answer.from_json(orjson.loads(raw)) if raw else None
            ttl = await self.redis.ttl(redis_key(tenant_id, key)) if answer is not None else 0
        else:
            answer = await store.get(self.engine, key)
            ttl = int(self.lru_ttl)
        if answer is not None:
            self.lru.put(key, answer, min(self.lru_ttl, max(ttl, 0)))
        return answer

    def remember(self, key: str, answer: Answer, ttl: int) -> None:
        """The process's own writes are visible to it at once, before the shared store has them."""
        self.lru.put(key, answer, min(self.lru_ttl, ttl))

    async def put_shared(self, tenant_id: str, key: str, answer: Answer, ttl: int) -> None:
        if self.redis is not None:
            await self.redis.set(redis_key(tenant_id, key), orjson.dumps(answer.to_json()), ex=ttl)

    async def purge_tenant(self, tenant_id: str) -> int:
        self.lru.clear()
        n = 0
        if self.redis is not None:
            async for k in self.redis.scan_iter(match=f"{REDIS_PREFIX}{tenant_id}:*", count=500):
                n += await self.redis.delete(k)
        return n


def age_seconds(answer: Answer) -> float:
    return max(0.0, time.time() - answer.created)
