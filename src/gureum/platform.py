"""The running platform: everything a process builds once at start-up (store, HTTP pool,
providers, catalog, router, recorder, the flow) and tears down at shutdown."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from gureum.cache import ResponseCache
from gureum.config import Settings
from gureum.flow.pipeline import build
from gureum.flow.stages.account import Account
from gureum.flow.stages.audit import Audit
from gureum.flow.stages.authorize import Authorize
from gureum.flow.stages.cache import Cache
from gureum.flow.stages.call import Call
from gureum.flow.stages.context import FitContext
from gureum.flow.stages.guard import Guard
from gureum.flow.stages.identify import Identify
from gureum.flow.stages.limits import Limits
from gureum.flow.stages.retrieve import Retrieve
from gureum.flow.stages.route import Route
from gureum.flow.types import Next
from gureum.governance.counters import Counters, MemoryCounters, RedisCounters
from gureum.governance.identity import KeyStore
from gureum.governance.pii import warm_up as pii_warm_up
from gureum.governance.policy import Policy
from gureum.governance.recorder import Recorder
from gureum.knowledge.service import KnowledgeService
from gureum.providers import registry
from gureum.providers.base import Provider
from gureum.routing.auto import AutoRoute, LatencyTracker
from gureum.routing.catalog import Catalog
from gureum.routing.difficulty import load_estimator
from gureum.routing.router import Router
from gureum.store import Store, open_store

log = logging.getLogger("gureum")


def _redis(url: str | None) -> Any | None:
    if not url:
        return None
    import redis.asyncio

    return redis.asyncio.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30)


def psycopg_dsn(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


@dataclass
class Platform:
    settings: Settings
    store: Store
    http: httpx.AsyncClient
    providers: dict[str, Provider]
    catalog: Catalog
    router: Router
    recorder: Recorder
    keys: KeyStore
    flow: Next
    generated_admin_key: str | None = None
    redis: Any | None = None  # redis.asyncio client when settings.redis_url is set
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def start(cls, settings: Settings) -> Platform:
        store = await open_store(settings.data_dir, settings.database_url, pool_size=settings.store.pool_size,
                                 server_settings=settings.store.embedded_server)
        http = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=256),
            timeout=httpx.Timeout(60.0, connect=5.0),
        )
        providers = {name: registry.create(name, ps, http) for name, ps in settings.providers.items()}
        catalog = Catalog(settings, providers)
        router = Router(settings.routing, settings.request_timeout)
        recorder = Recorder(psycopg_dsn(store.url), batch_max=settings.store.audit_batch_max)
        await recorder.start()
        keys = KeyStore(store.engine)
        generated = await keys.bootstrap(settings.admin_key)
        redis = _redis(settings.redis_url)
        gov = settings.governance
        policy = Policy(gov, catalog)
        counters: Counters = RedisCounters(redis) if redis is not None else MemoryCounters()
        cache = ResponseCache(settings.cache, store.engine, redis)
        await cache.start(preload=settings.preload_models)
        latency = LatencyTracker(settings.economy.latency_window, settings.economy.latency_min_samples)
        auto = AutoRoute(settings.economy, load_estimator(settings.economy.difficulty_model), latency)
        flow = build(
            [
                Audit(recorder),
                Identify(keys),
                Account(recorder),
                Authorize(checks=[policy.check]),
                Retrieve(KnowledgeService(store.engine, settings, providers), catalog, policy, router, recorder),
                Guard(policy, gov),
                Limits(policy, counters, store.engine, gov, hold_seconds=2 * settings.request_timeout + 60),
                Cache(cache),
                Route(catalog, filters=[policy.allow_list, policy.residency, auto]),
                FitContext(settings.economy, router, latency, recorder),
                Call(router),
            ]
        )
        platform = cls(settings, store, http, providers, catalog, router, recorder, keys, flow, generated, redis)
        platform.extras["policy"] = policy
        platform.extras["cache"] = cache
        if settings.preload_models:
            # Beside serving rather than before it, so the API is ready at once.
            platform.extras["warm_up"] = asyncio.create_task(asyncio.to_thread(pii_warm_up), name="gureum-warm-up")
        return platform

    async def stop(self) -> None:
        if "warm_up" in self.extras:
            await self.extras["warm_up"]
        if "cache" in self.extras:
            await self.extras["cache"].close()
        await self.recorder.stop()
        if self.redis is not None:
            await self.redis.aclose()
        for p in self.providers.values():
            await p.aclose()
        await self.http.aclose()
        await self.store.close()
