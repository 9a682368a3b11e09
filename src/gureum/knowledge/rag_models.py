"""`rag/<collection>` as models: which chat model answers from a collection (the plan the
retrieve stage follows) and the model cards `/v1/models` lists for a caller. Both come from here,
so a card says what a chat with that model would do, and a card is listed only when the caller's
chat with it would pass the same allow-list."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from gureum.errors import ModelNotFound
from gureum.governance.policy import Policy
from gureum.governance.principal import Principal, Role
from gureum.knowledge import collections
from gureum.knowledge.collections import Collection
from gureum.routing.catalog import Catalog, Deployment

__all__ = ["DEMO_MODELS", "RAG_PREFIX", "answer_plan", "rag_model", "rag_models"]

RAG_PREFIX = "rag/"
DEMO_MODELS = ("smollm2-135m-instruct",)


def answer_plan(catalog: Catalog, col: Collection, requested: str | None) -> tuple[str | None, list[Deployment], str]:
    """(answer model, its deployments, why extractive) — model None means extractive. Raises
    ModelNotFound when the requested or the collection's answer model is not in the catalog."""
    name = requested or col.answer_model
    if name is None:
        if "auto" in catalog.virtual:
            name = "auto"
        else:
            chat = [d for d in catalog.deployments.values() if d.settings.kind == "chat"]
            name = chat[0].name if chat else None
    if name is None:
        return None, [], "no generative model is configured"
    try:
        deps = list(catalog.plan(name, "chat").deployments())
    except ModelNotFound:
        if requested or col.answer_model:
            raise
        return None, [], "no generative model is configured"
    if all(d.model in DEMO_MODELS for d in deps):
        return None, deps, "the only configured chat model is the small local demo model"
    return name, deps, ""


def _card(col: Collection, catalog: Catalog, policy: Policy, principal: Principal) -> dict[str, Any] | None:
    """The card of `rag/<col>`, or None when a chat with it would be refused: the allow-list
    refuses the name, the collection's embedder, or every deployment of its answer model, or the
    answer model is missing from the catalog."""
    model_id = RAG_PREFIX + col.name
    if principal.role is Role.AUDITOR or not policy.allows(principal, model_id):
        return None  # Authorize refuses auditors every model
    try:
        model, _, why = answer_plan(catalog, col, None)
    except ModelNotFound:
        return None
    # Retrieval embeds the question with the collection's embedder; an extractive answer is written
    # by the retrieve stage itself and never routed.
    if not policy.allows(principal, col.embedder):
        return None
    if model is not None and not policy.allowed_plan(principal, catalog.plan(model, "chat")).groups:
        return None
    return {
        "id": model_id,
        "object": "model",
        "created": int(col.created_at.timestamp()) if col.created_at else 0,
        "owned_by": "gureum",
        "gureum": {
            "kind": "rag",
            "collection": col.name,
            "description": (
                f"Retrieval-augmented chat over the collection '{col.name}': answers from the documents the caller "
                "may read, with numbered citations" + (f". {col.description}" if col.description else "")
            ),
            "answer_model": model,
            "answer": "extractive" if model is None else "generative",
            "extractive_reason": why or None,
            "embedder": col.embedder,
            "residency": col.residency,
        },
    }


async def rag_models(engine: AsyncEngine, catalog: Catalog, policy: Policy, principal: Principal) -> list[dict[str, Any]]:
    """The `rag/<collection>` models of the caller's tenant that the caller may chat with."""
    cards = (_card(c, catalog, policy, principal) for c in await collections.of_tenant(engine, principal.tenant_id))
    return [c for c in cards if c is not None]


async def rag_model(engine: AsyncEngine, catalog: Catalog, policy: Policy, principal: Principal,
                    model_id: str) -> dict[str, Any] | None:
    """One `rag/<collection>` card, or None when the caller's tenant has no such collection or the
    caller may not chat with it (the same answer, as for a document the caller may not read)."""
    col = await collections.find(engine, principal.tenant_id, model_id.removeprefix(RAG_PREFIX))
    return _card(col, catalog, policy, principal) if col is not None else None
