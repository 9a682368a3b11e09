"""The running platform: everything a process builds once at start-up (store, HTTP pool,
providers, catalog, router, recorder, the flow) and tears down at shutdown."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx

from gureum.config import Settings
from gureum.flow.pipeline import build
from gureum.flow.stages.account import Account
from gureum.flow.stages.audit import Audit
from gureum.flow.stages.authorize import Authorize
from gureum.flow.stages.call import Call
from gureum.flow.stages.identify import Identify
from gureum.flow.stages.route import Route
from gureum.flow.types import Next
from gureum.governance.identity import KeyStore
from gureum.governance.recorder import Recorder
from gureum.providers import registry
from gureum.providers.base import Provider
from gureum.routing.catalog import Catalog
from gureum.routing.router import Router
from gureum.store import Store, open_store

log = logging.getLogger("gureum")


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
    extras: dict[str, Any] = field(default_factory=dict)

    @classmethod
    async def start(cls, settings: Settings) -> Platform:
        store = await open_store(settings.data_dir, settings.database_url, pool_size=settings.store.pool_size)
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
        flow = build(
            [
                Audit(recorder),
                Identify(keys),
                Account(recorder),
                Authorize(),
                Route(catalog),
                Call(router),
            ]
        )
        return cls(settings, store, http, providers, catalog, router, recorder, keys, flow, generated)

    async def stop(self) -> None:
        await self.recorder.stop()
        for p in self.providers.values():
            await p.aclose()
        await self.http.aclose()
        await self.store.close()
