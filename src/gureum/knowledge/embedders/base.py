"""The embedder contract and its resolution from the model catalog."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from gureum.errors import InvalidRequest

if TYPE_CHECKING:
    from gureum.config import Settings
    from gureum.providers.base import Provider


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors.

    `embed_passages` encodes what is indexed, `embed_queries` what is searched for (asymmetric
    models such as e5 encode the two differently). `token_count` uses the model's own tokenizer
    where it has one (chunking sizes chunks with it); `max_tokens` is what the model reads of
    one input — longer inputs are truncated by the model, so chunks are sized below it.
    """

    name: str
    dimensions: int
    max_tokens: int

    def token_count(self, text: str) -> int: ...

    async def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    async def embed_passages(self, texts: list[str]) -> np.ndarray: ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.maximum(norms, 1e-12)


_LOCAL: dict[str, Embedder] = {}


def resolve(settings: Settings, name: str, providers: dict[str, Provider] | None = None) -> Embedder:
    """The embedder for catalog model `name` (kind `embedding`)."""
    deps = [d for d in settings.deployments if d.kind == "embedding" and (d.name == name or d.deployment_id == name)]
    if not deps:
        known = ", ".join(sorted({d.name for d in settings.deployments if d.kind == "embedding"})) or "none"
        raise InvalidRequest(f"'{name}' is not an embedding model in the catalog (embedding models: {known})",
                             param="embedder")
    dep = deps[0]
    ps = settings.providers[dep.provider]
    if ps.kind == "local":
        from gureum.knowledge.embedders.e5 import LocalE5

        key = f"{dep.model}:{ps.options.get('threads', 2)}"
        if key not in _LOCAL:
            _LOCAL[key] = LocalE5(name=name, threads=int(ps.options.get("threads", 2)))
        return _LOCAL[key]
    from gureum.knowledge.embedders.remote import ProviderEmbedder

    if providers is None or dep.provider not in providers:
        import httpx

        from gureum.providers import registry

        provider = registry.create(dep.provider, ps, httpx.AsyncClient(timeout=ps.timeout))
    else:
        provider = providers[dep.provider]
    if not dep.dimensions:
        raise InvalidRequest(f"embedding deployment '{dep.deployment_id}' needs `dimensions` in the catalog",
                             param="embedder")
    return ProviderEmbedder(name=name, provider=provider, model=dep.model, dimensions=dep.dimensions,
                            max_tokens=dep.context_window)
