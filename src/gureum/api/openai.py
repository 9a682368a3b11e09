"""The OpenAI-compatible surface: /v1/chat/completions, /v1/embeddings, /v1/models (the catalog,
and a `rag/<collection>` model for each collection of the caller's tenant they may chat with)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gureum.api.access import audited
from gureum.api.common import bearer, complete, platform, read_json, validate
from gureum.api.schemas import ChatRequest, EmbeddingsRequest, body_doc
from gureum.errors import ModelNotFound
from gureum.flow.gateway import Parsed
from gureum.flow.operations import CHAT, EMBEDDINGS
from gureum.knowledge.rag_models import RAG_PREFIX, rag_model, rag_models

router = APIRouter()


@router.post("/v1/chat/completions", openapi_extra=body_doc(ChatRequest))
async def chat_completions(request: Request) -> Response:
    async def read() -> Parsed:
        body = await read_json(request, platform(request).settings.max_body_bytes)
        req = validate(ChatRequest, body)
        return Parsed(body, req.model, req.stream)

    return await complete(request, CHAT, read)


@router.post("/v1/embeddings", openapi_extra=body_doc(EmbeddingsRequest))
async def embeddings(request: Request) -> Response:
    async def read() -> Parsed:
        body = await read_json(request, platform(request).settings.max_body_bytes)
        return Parsed(body, validate(EmbeddingsRequest, body).model)

    return await complete(request, EMBEDDINGS, read)


@router.get("/v1/models")
async def models(request: Request) -> dict[str, object]:
    """The catalog and the caller's `rag/` models. It calls no model, so it is audited here (as
    the admin routes are) rather than through the flow."""
    p = platform(request)
    principal = await p.keys.authenticate(bearer(request))
    rag = await rag_models(p.store.engine, p.catalog, p.policy, principal)
    await audited(request, principal, "api.models", "models", {"rag_models": len(rag)})
    return {"object": "list", "data": [*p.catalog.public_models(), *rag]}


@router.get("/v1/models/{model_id:path}")
async def model(model_id: str, request: Request) -> dict[str, object]:
    p = platform(request)
    principal = await p.keys.authenticate(bearer(request))
    card: dict[str, object] | None = None
    if model_id.startswith(RAG_PREFIX):
        card = await rag_model(p.store.engine, p.catalog, p.policy, principal, model_id)
    else:
        card = next((m for m in p.catalog.public_models() if m["id"] == model_id), None)
    known = card is not None
    await audited(request, principal, "api.models", f"model:{model_id}" if known else "model:unknown", {"found": known})
    if card is None:
        raise ModelNotFound(f"The model '{model_id}' does not exist.", param="model")
    return card
