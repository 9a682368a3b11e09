"""The knowledge layer's embedder, through the gateway: every batch of passages an ingestion
embeds and every query a retrieval embeds is an `embeddings` call of the flow as some principal
(the uploader, the querying user, a CLI or job service principal), with the data tags of the
collection it embeds for — so a `kr-only` collection is never embedded by a foreign deployment,
and each batch has its ledger row and audit event. A query embedded for a retrieval request is a
sub-call of it.

Vectors come back as OpenAI's JSON floats and are normalised here (L2), as the index expects.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gureum.errors import InvalidRequest
from gureum.flow.gateway import Gateway, Request
from gureum.flow.operations import EMBEDDINGS
from gureum.flow.types import Context
from gureum.governance.principal import Principal
from gureum.knowledge.embedders import normalise
from gureum.providers.base import Tokenizing
from gureum.routing.catalog import Catalog
from gureum.tokens import estimate_tokens


class GovernedEmbedder:
    """Conforms to `gureum.knowledge.embedders.Embedder`."""

    def __init__(self, gateway: Gateway, principal: Principal, *, name: str, dimensions: int, max_tokens: int,
                 max_inputs: int, token_count: Callable[[str], int], data_tags: frozenset[str] = frozenset(),
                 origin: str = "knowledge", parent: Context | None = None) -> None:
        self.gateway = gateway
        self.principal = principal
        self.name = name
        self.dimensions = dimensions
        self.max_tokens = max_tokens
        self.max_inputs = max_inputs
        self._count = token_count
        self.data_tags = data_tags
        self.origin = origin
        self.parent = parent

    def token_count(self, text: str) -> int:
        return self._count(text)

    async def _embed(self, texts: list[str], kind: str, tags: frozenset[str]) -> np.ndarray:
        out: list[list[float]] = []
        for i in range(0, len(texts), self.max_inputs):
            body = {"model": self.name, "input": texts[i : i + self.max_inputs], "input_type": kind}
            # A document is embedded once: its vectors would only crowd the response cache.
            headers = {"cache-control": "no-store"} if kind == "passage" else {}
            request = Request(EMBEDDINGS, body, self.name, headers=headers, data_tags=self.data_tags | tags)
            reply = await self.gateway.complete(self.principal, request, origin=self.origin, parent=self.parent)
            out.extend(item["embedding"] for item in (reply.body or {}).get("data", []))
        arr = np.asarray(out, dtype=np.float32).reshape(len(texts), -1)
        return normalise(arr)

    async def embed_queries(self, texts: list[str]) -> np.ndarray:
        return await self._embed(texts, "query", frozenset())

    async def embed_passages(self, texts: list[str], *, data_tags: frozenset[str] = frozenset()) -> np.ndarray:
        return await self._embed(texts, "passage", data_tags)


def governed_embedder(gateway: Gateway, catalog: Catalog, principal: Principal, name: str, *,
                      data_tags: frozenset[str] = frozenset(), origin: str = "knowledge",
                      parent: Context | None = None) -> GovernedEmbedder:
    """The embedder for the catalog's embedding model `name`, as `principal`. Its token count is
    the model's own where the adapter has one (the embedded e5), else an estimate."""
    deps = [d for d in catalog.deployments.values() if d.settings.kind == "embedding" and name in (d.name, d.id)]
    if not deps:
        raise InvalidRequest(f"'{name}' is not an embedding model in the catalog", param="embedder")
    first = deps[0]
    if not first.settings.dimensions:
        raise InvalidRequest(f"embedding deployment '{first.id}' needs `dimensions` in the catalog", param="embedder")
    provider = first.provider
    count: Callable[[str], int] = estimate_tokens
    if isinstance(provider, Tokenizing):
        model = first.model
        count = lambda text: provider.token_count(model, text)  # noqa: E731
    return GovernedEmbedder(
        gateway, principal, name=name, dimensions=first.settings.dimensions,
        max_tokens=min(d.settings.context_window for d in deps), max_inputs=min(d.settings.max_inputs for d in deps),
        token_count=count, data_tags=data_tags, origin=origin, parent=parent,
    )


__all__ = ["GovernedEmbedder", "governed_embedder"]
