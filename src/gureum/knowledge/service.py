"""The knowledge service a running platform holds: collections and retrieval for a principal —
what the API routes and the flow's retrieve stage share."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.config import Settings
from gureum.errors import NotFound
from gureum.governance.principal import Principal
from gureum.knowledge import collections, index
from gureum.knowledge.collections import Collection
from gureum.knowledge.retrieve import ModelCalls, Options, Retrieved, check_query, rerank, retrieve


@dataclass
class KnowledgeService:
    engine: AsyncEngine
    settings: Settings

    async def collection(self, principal: Principal, name: str) -> Collection:
        """The caller's tenant's collection `name`; another tenant's is simply not found."""
        return await collections.get(self.engine, principal.tenant_id, name)

    async def retrieve(self, principal: Principal, name: str, query: str, options: Options,
                       calls: ModelCalls) -> tuple[Collection, Retrieved]:
        """The caller's hits in collection `name`, reranked when the call or the collection names
        a reranker (its `rerank_candidates` best fused hits go to it); `calls` makes the query
        embedding and the rerank."""
        if options.reranker is not None:
            collections.check_reranker(self.settings, options.reranker)
        check_query(query, options)
        col = await self.collection(principal, name)
        model = options.reranker or col.reranker
        wide = replace(options, k=max(options.k, col.rerank_candidates)) if model else options
        vector = await calls.embed_query(col, query)
        hits = await retrieve(self.engine, col, principal.principals(), query, vector, wide)
        if model is None:
            return col, Retrieved(hits)
        return col, await rerank(col, model, query, hits, options.k, calls)

    async def document(self, principal: Principal, col: Collection, doc_id: int, *, manage: bool = False) -> dict[str, Any]:
        """A document the caller may read (or, for a tenant admin managing, any in the collection).
        Missing and forbidden are the same 404."""
        if manage:
            row = await index.managed_document(self.engine, col.tenant_id, col.id, doc_id)
        else:
            row = await index.readable_document(self.engine, collections.scope(col, principal.principals()), doc_id)
        if row is None:
            raise NotFound(f"no document {doc_id} in collection '{col.name}'", param="document_id")
        return row
