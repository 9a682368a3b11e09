"""The OpenAI-compatible surface: /v1/chat/completions, /v1/embeddings, /v1/models (the catalog,
and a `rag/<collection>` model for each collection of the caller's tenant they may chat with)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gureum.api.common import bearer, context, platform, read_json, render, validate
from gureum.api.schemas import ChatRequest, EmbeddingsRequest, body_doc
from gureum.errors import ModelNotFound
from gureum.flow.types import Endpoint
from gureum.knowledge.rag_models import RAG_PREFIX, rag_model, rag_models

router = APIRouter()


@router.post("/v1/chat/completions", openapi_extra=body_doc(ChatRequest))
async def chat_completions(request: Request) -> Response:
    p = platform(request)
    body = await read_json(request, p.settings.max_body_bytes)
    req = validate(ChatRequest, body)
    ctx = context(request, Endpoint.CHAT, body, req.model, req.stream)
    return render(ctx, await p.flow(ctx))


@router.post("/v1/embeddings", openapi_extra=body_doc(EmbeddingsRequest))
async def embeddings(request: Request) -> Response:
    p = platform(request)
    body = await read_json(request, p.settings.max_body_bytes)
    req = validate(EmbeddingsRequest, body)
    ctx = context(request, Endpoint.EMBEDDINGS, body, req.model)
    return render(ctx, await p.flow(ctx))


@router.get("/v1/models")
async def models(request: Request) -> dict[str, object]:
    p = platform(request)

    principal = await p.keys.authenticate(bearer(request))
    rag = await rag_models(p.store.engine, p.catalog, p.extras["policy"], principal)
    return {"object": "list", "data": [*p.catalog.public_models(), *rag]}


@router.get("/v1/models/{model_id:path}")
async def model(model_id: str, request: Request) -> dict[str, object]:
    p = platform(request)

    principal = await p.keys.authenticate(bearer(request))
    if model_id.startswith(RAG_PREFIX):
        card = await rag_model(p.store.engine, p.catalog, p.extras["policy"], principal, model_id)
        if card is not None:
            return card
    else:
        for m in p.catalog.public_models():
            if m["id"] == model_id:
                return m
    raise ModelNotFound(f"The model '{model_id}' does not exist.", param="model")
