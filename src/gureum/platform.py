"""The running platform: everything a process builds once at start-up (store, HTTP pool,
providers, catalog, router, recorder, policy, caches, the flow behind its gateway) and tears
down at shutdown. A server, a CLI command and a job worker each start one; every model call
any of them makes goes through `Platform.complete` (the gateway)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from gureum.cache import ResponseCache
from gureum.config import Settings
from gureum.flow.embedder import GovernedEmbedder, governed_embedder
from gureum.flow.gateway import Caller, Gateway, Request
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
from gureum.flow.stages.parse import Parse
from gureum.flow.stages.retrieve import Retrieve
from gureum.flow.stages.route import Route
from gureum.flow.types import Context, Reply
from gureum.governance.counters import Counters, MemoryCounters, RedisCounters
from gureum.governance.identity import KeyStore
from gureum.governance.pii import warm_up as pii_warm_up
from gureum.governance.policy import Policy
from gureum.governance.principal import Principal
from gureum.governance.recorder import Recorder
from gureum.knowledge.collections import Collection
from gureum.knowledge.service import KnowledgeService
from gureum.observability.tracing import Tracing
from gureum.providers import registry
from gureum.providers.base import Provider
from gureum.routing.auto import AutoRoute, LatencyTracker
from gureum.routing.catalog import Catalog
from gureum.routing.difficulty import load_estimator
from gureum.routing.router import Router
from gureum.store import Store, open_store

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

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
    policy: Policy
    cache: ResponseCache
    knowledge: KnowledgeService
    gateway: Gateway
    generated_admin_key: str | None = None
    redis: Any | None = None  # redis.asyncio client when settings.redis_url is set
    warm_up: asyncio.Task[None] | None = None
    tracing: Tracing | None = None

    @classmethod
    async def start(cls, settings: Settings, *, bootstrap_keys: bool = True,
                    span_exporter: SpanExporter | None = None) -> Platform:
        """`bootstrap_keys`: create the first admin key in an empty store (a server does; a CLI
        command or worker does not, since nobody would see a generated key). `span_exporter`:
        where traces go instead of `tracing.otlp_endpoint` (an embedding application's own)."""
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
        generated = await keys.bootstrap(settings.admin_key) if bootstrap_keys else None
        redis = _redis(settings.redis_url)
        gov = settings.governance
        policy = Policy(gov, catalog)
        counters: Counters = RedisCounters(redis) if redis is not None else MemoryCounters()
        cache = ResponseCache(settings.cache, store.engine, redis)
        await cache.start(preload=settings.preload_models)
        latency = LatencyTracker(settings.economy.latency_window, settings.economy.latency_min_samples)
        auto = AutoRoute(settings.economy, load_estimator(settings.economy.difficulty_model), latency)
        knowledge = KnowledgeService(store.engine, settings)
        gateway = Gateway()
        tracing = Tracing.create(settings.tracing, span_exporter)
        tracer = tracing.tracer if tracing is not None else None
        gateway.bind(build(
            [
                Audit(recorder, gov.audit_anonymous_per_minute),
                Identify(keys),
                Parse(),
                Account(recorder),
                Authorize(policy),
                Retrieve(knowledge, catalog, policy, gateway),
                Guard(policy, gov),
                Limits(policy, counters, store.engine, gov, hold_seconds=2 * settings.request_timeout + 60),
                Cache(cache, policy, gateway),
                Route(policy, auto),
                FitContext(settings.economy, gateway, latency),
                Call(router, tracer),
            ],
            tracer,
        ))
        warm_up = None
        if settings.preload_models:
            # Beside serving rather than before it, so the API is ready at once.
            warm_up = asyncio.create_task(asyncio.to_thread(pii_warm_up), name="gureum-warm-up")
        return cls(settings, store, http, providers, catalog, router, recorder, keys, policy, cache, knowledge,
                   gateway, generated, redis, warm_up, tracing)

    async def complete(self, caller: Caller, request: Request, *, origin: str = "api",
                       parent: Context | None = None) -> Reply:
        """Send one call through the flow (see `gureum.flow.gateway`)."""
        return await self.gateway.complete(caller, request, origin=origin, parent=parent)

    def embedder(self, principal: Principal, col: Collection, *, origin: str = "knowledge") -> GovernedEmbedder:
        """The collection's embedder as `principal`: each batch a governed `embeddings` call."""
        return governed_embedder(self.gateway, self.catalog, principal, col.embedder,
                                 data_tags=frozenset({col.residency}), origin=origin)

    async def stop(self) -> None:
        if self.warm_up is not None:
            await self.warm_up
        await self.cache.close()
        await self.recorder.stop()
        if self.redis is not None:
            await self.redis.aclose()
        for p in self.providers.values():
            await p.aclose()
        await self.http.aclose()
        await self.store.close()
        if self.tracing is not None:
            self.tracing.shutdown()
