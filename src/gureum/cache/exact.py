"""The exact cache: an in-process LRU in front of the shared store — Redis when configured (one
key per answer, expiring by itself), else the PostgreSQL `cache_entries` row that also serves the
semantic cache. Keys come from `gureum.cache.keys`; a hit means the normalised, masked request
was byte-for-byte the same within its scope."""

from __future__ import annotations

import hashlib
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


def model_tag(model: str) -> str:
    # Model names may hold glob characters; a digest of them is safe in a SCAN pattern.
    return hashlib.sha256(model.encode()).hexdigest()[:16]


def redis_key(tenant_id: str, model: str, key: str) -> str:
    # Tenant and model are in the Redis key so their entries can be purged by pattern (tenant ids
    # are `[A-Za-z0-9_-]`, no glob characters).
    return f"{REDIS_PREFIX}{tenant_id}:{model_tag(model)}:{key}"


def redis_pattern(tenant_id: str | None, model: str | None) -> str:
    return f"{REDIS_PREFIX}{tenant_id or '*'}:{model_tag(model) if model is not None else '*'}:*"


class ExactCache:
    def __init__(self, engine: AsyncEngine, redis: Any | None, lru_entries: int, lru_ttl: float) -> None:
        self.engine = engine
        self.redis = redis
        self.lru: TtlLru[Answer] = TtlLru(lru_entries)
        self.lru_ttl = lru_ttl

    async def get(self, tenant_id: str, model: str, key: str) -> Answer | None:
        answer = self.lru.get(key)
        if answer is not None:
            return answer
        if self.redis is not None:
            name = redis_key(tenant_id, model, key)
            raw = await self.redis.get(name)
            answer = Answer.from_json(orjson.loads(raw)) if raw else None
            ttl = await self.redis.ttl(name) if answer is not None else 0
        else:
            answer = await store.get(self.engine, key)
            ttl = int(self.lru_ttl)
        if answer is not None:
            self.lru.put(key, answer, min(self.lru_ttl, max(ttl, 0)))
        return answer

    def remember(self, key: str, answer: Answer, ttl: int) -> None:
        """The process's own writes are visible to it at once, before the shared store has them."""
        self.lru.put(key, answer, min(self.lru_ttl, ttl))

    async def put_shared(self, tenant_id: str, model: str, key: str, answer: Answer, ttl: int) -> None:
        if self.redis is not None:
            await self.redis.set(redis_key(tenant_id, model, key), orjson.dumps(answer.to_json()), ex=ttl)

    async def purge(self, tenant_id: str | None, model: str | None) -> set[str]:
        """Drop the shared entries of a tenant (all tenants: None), of one model or all; returns
        their keys. This process's LRU is cleared; another replica's keeps an entry at most
        `lru_ttl` seconds."""
        self.lru.clear()
        deleted: set[str] = set()
        if self.redis is not None:
            async for name in self.redis.scan_iter(match=redis_pattern(tenant_id, model), count=500):
                if await self.redis.delete(name):
                    deleted.add((name.decode() if isinstance(name, bytes) else name).rsplit(":", 1)[1])
        return deleted


def age_seconds(answer: Answer) -> float:
    return max(0.0, time.time() - answer.created)
