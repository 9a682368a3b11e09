"""Collections declared in gureum.yaml (`collections:`): checked by `gureum check` before they
exist, and created from their declaration by `gureum ingest` the first time it fills them.

A declaration says what a collection is (tenant, embedder, residency, default ACL, PII policy,
answer model, reranker); documents still come from `gureum ingest` or the API. A collection that
already exists in the store is not changed by its declaration: `gureum collections` and
`PATCH /v1/collections/{name}` change it, and `gureum check --live` compares the two."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from gureum.config import Settings
    from gureum.knowledge.collections import Collection


class DeclaredCollection(BaseModel):
    """One knowledge collection as the platform team declares it."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", description="Collection name (`rag/<name>` as a model).")
    tenant: str = Field(default="default", description="Tenant that owns it; only that tenant's keys see it.")
    description: str = Field(default="", description="Shown on its `rag/<name>` model card.")
    embedder: str | None = Field(default=None, description="Embedding model (catalog name); unset = local-embed or the first one.")
    residency: str | None = Field(
        default=None, description="Residency tag of its documents (e.g. kr-only); unset = the embedder's region."
    )
    default_acl: list[str] | None = Field(
        default=None,
        description="Who may read documents that bring no ACL of their own: `*`, `user:<id>`, `group:<g>`. Unset = "
        "`*` (every key of the tenant); `gureum check` flags that, so write `['*']` when it is meant.",
    )
    pii_policy: Literal["mask", "exclude", "allow"] = Field(
        default="mask", description="PII in chunks sent to external models: mask it, exclude the chunk, or allow it."
    )
    answer_model: str | None = Field(default=None, description="Chat model that answers from it; unset = auto.")
    reranker: str | None = Field(default=None, description="Rerank model (catalog name of kind rerank); unset = none.")


def find(settings: Settings, tenant: str, name: str) -> DeclaredCollection | None:
    return next((c for c in settings.collections if c.tenant == tenant and c.name == name), None)


async def create(engine: AsyncEngine, settings: Settings, decl: DeclaredCollection) -> Collection:
    from gureum.knowledge import collections

    return await collections.create(
        engine, settings, decl.tenant, decl.name, description=decl.description, embedder=decl.embedder,
        residency=decl.residency, default_acl=decl.default_acl, pii_policy=decl.pii_policy,
        answer_model=decl.answer_model, reranker=decl.reranker, exist_ok=True,
    )


__all__ = ["DeclaredCollection", "create", "find"]
