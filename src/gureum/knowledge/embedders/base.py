"""The embedder contract, and the catalog's embedding deployments a collection may name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from gureum.errors import InvalidRequest

if TYPE_CHECKING:
    from gureum.config import DeploymentSettings, Settings


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors.

    `embed_passages` encodes what is indexed, `embed_queries` what is searched for (asymmetric
    models such as e5 encode the two differently); `data_tags` are the residency tags of the
    passages' documents, which decide where they may be sent. `token_count` uses the model's own
    tokenizer where it has one (chunking sizes chunks with it); `max_tokens` is what the model
    reads of one input — longer inputs are truncated by the model, so chunks are sized below it.

    The platform's implementation sends every call through the governed flow
    (`gureum.flow.embedder`); the knowledge layer never calls a model itself.
    """

    name: str
    dimensions: int
    max_tokens: int

    def token_count(self, text: str) -> int: ...

    async def embed_queries(self, texts: list[str]) -> np.ndarray: ...

    async def embed_passages(self, texts: list[str], *, data_tags: frozenset[str] = frozenset()) -> np.ndarray: ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.maximum(norms, 1e-12)


def embedding_deployment(settings: Settings, name: str) -> DeploymentSettings:
    """The first embedding deployment of catalog model `name` (a name or a deployment id), with
    its dimensions: what a collection that names it is sized by."""
    deps = [d for d in settings.deployments if d.kind == "embedding" and name in (d.name, d.deployment_id)]
    if not deps:
        known = ", ".join(sorted({d.name for d in settings.deployments if d.kind == "embedding"})) or "none"
        raise InvalidRequest(f"'{name}' is not an embedding model in the catalog (embedding models: {known})",
                             param="embedder")
    if not deps[0].dimensions:
        raise InvalidRequest(f"embedding deployment '{deps[0].deployment_id}' needs `dimensions` in the catalog",
                             param="embedder")
    return deps[0]
