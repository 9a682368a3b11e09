"""Knowledge fixtures: a migrated store on the module's fresh database, settings with the
embedded catalog, a platform on it (whose governed embedder ingestion and retrieval use), and
helpers to build source documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gureum.config import Settings, load_settings
from gureum.governance.principal import Principal
from gureum.knowledge.collections import Collection
from gureum.knowledge.documents import Acl, SourceDocument
from gureum.knowledge.embedders import Embedder
from gureum.platform import Platform
from gureum.store import Store, open_store


@pytest.fixture(scope="module")
def kn_settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return load_settings(use_file=False, data_dir=tmp_path_factory.mktemp("kn"), database_url=database_url)


@pytest.fixture(scope="module")
async def store(kn_settings: Settings) -> AsyncIterator[Store]:
    s = await open_store(Path(kn_settings.data_dir), kn_settings.database_url, pool_size=4)
    yield s
    await s.close()


@pytest.fixture(scope="module")
async def platform(kn_settings: Settings) -> AsyncIterator[Platform]:
    p = await Platform.start(kn_settings, bootstrap_keys=False)
    yield p
    await p.stop()


def embedder(platform: Platform, col: Collection) -> Embedder:
    """The collection's embedder as its tenant's test service: every batch a governed call."""
    return platform.embedder(Principal.service(col.tenant_id, "test"), col)


def doc(uri: str, body: str, *, title: str = "", users: tuple[str, ...] = (), groups: tuple[str, ...] = (),
        **metadata: object) -> SourceDocument:
    return SourceDocument(uri=uri, content=body.encode(), title=title, media_type="text/plain",
                          acl=Acl(users=users, groups=groups), metadata=dict(metadata))


def kn_gateway_settings(database_url: str, upstream_url: str | None, tmp: Path, **extra: object) -> Settings:
    """The embedded e5 embedder plus (when given) a fake OpenAI-compatible chat upstream."""
    from tests.conftest import ADMIN_KEY

    providers: dict[str, object] = {"local": {"kind": "local"}}
    deployments: list[dict[str, object]] = [
        {"name": "local-embed", "provider": "local", "model": "multilingual-e5-small", "kind": "embedding",
         "region": "local", "dimensions": 384, "context_window": 512},
    ]
    if upstream_url:
        providers["fake"] = {"kind": "openai", "base_url": f"{upstream_url}/v1", "api_key": "sk-upstream-fake", "timeout": 5}
        deployments.insert(0, {"name": "gpt-test", "provider": "fake", "model": "fake-model", "region": "us", "tier": 3,
                               "context_window": 8192, "max_output_tokens": 256})
    return load_settings(use_file=False, data_dir=tmp, database_url=database_url, admin_key=ADMIN_KEY,
                         providers=providers, deployments=deployments, **extra)


class Api:
    """A thin httpx client for the knowledge routes, with key helpers."""

    def __init__(self, base: str) -> None:
        import httpx

        self.base = base
        self.http = httpx.Client(base_url=base, timeout=120)

    def call(self, method: str, path: str, key: str, json: object | None = None) -> object:
        return self.http.request(method, path, headers={"authorization": f"Bearer {key}"}, json=json)

    def key(self, admin_key: str, tenant: str, role: str = "member", user: str | None = None,
            groups: list[str] | None = None) -> str:
        r = self.call("POST", "/v1/admin/tenants", admin_key, {"id": tenant})
        assert r.status_code == 201, r.text  # type: ignore[attr-defined]
        r = self.call("POST", "/v1/admin/keys", admin_key, {"tenant_id": tenant, "role": role, "user_id": user,
                                                             "groups": groups or []})
        assert r.status_code == 201, r.text  # type: ignore[attr-defined]
        return str(r.json()["key"])  # type: ignore[attr-defined]
