"""Retrieve: knowledge inside the flow. Runs after authorize, before the guard.

- `retrieve` calls: hybrid retrieval as the caller (their principals decide what can be found);
  the stage answers itself.
- `answer` calls and chats with `model="rag/<collection>"`: retrieve with the last user message,
  record the documents used (`ctx.resources`) and their residency tags (`ctx.data_tags`, which
  residency routing reads), build a grounded prompt within the answer model's context budget
  (masking or dropping PII chunks for external models as the collection's policy says), rewrite
  `ctx.model` to the collection's answer model and hand on; the reply comes back with numbered
  citations. With no generative model — or only the embedded demo model — the stage answers
  extractively itself: the best supporting passages, quoted, cited, and labelled so.

The model calls retrieval needs — the query's embedding and, when the collection or the call
names a reranker, the rerank — are sub-calls of the request through the gateway (`_Calls`), each
governed, charged and audited on its own. A failing reranker leaves the fused order and a
`rerank` field saying why.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gureum.errors import InvalidRequest
from gureum.flow import policy as flow_policy
from gureum.flow.embedder import governed_embedder
from gureum.flow.gateway import Gateway, Request
from gureum.flow.operations import RERANK
from gureum.flow.types import Context, Next, Reply
from gureum.governance.pii import detect, redact_found
from gureum.governance.policy import Policy
from gureum.knowledge import answer, citations
from gureum.knowledge.collections import Collection
from gureum.knowledge.index import Hit
from gureum.knowledge.rag_models import RAG_PREFIX, answer_plan
from gureum.knowledge.retrieve import MAX_K, Options
from gureum.knowledge.service import KnowledgeService
from gureum.messages import content_text
from gureum.routing.catalog import Catalog, Deployment

DEFAULT_ANSWER_K = 5


class _Calls:
    """The retrieval's model calls, as sub-calls of `ctx` (conforms to `knowledge.retrieve.ModelCalls`)."""

    def __init__(self, stage: Retrieve, ctx: Context) -> None:
        self.stage = stage
        self.ctx = ctx

    async def embed_query(self, col: Collection, query: str) -> np.ndarray:
        assert self.ctx.principal is not None
        embedder = governed_embedder(self.stage.gateway, self.stage.catalog, self.ctx.principal, col.embedder,
                                     data_tags=frozenset({col.residency}), parent=self.ctx)
        return (await embedder.embed_queries([query]))[0]

    async def rerank(self, col: Collection, model: str, query: str, hits: list[Hit]) -> dict[int, float]:
        """Chunks the collection's PII policy keeps from the reranker's permitted deployments are not
        sent, and neither is PII in the query; the tenant's own PII rules then apply in the sub-call."""
        ctx = self.ctx
        assert ctx.principal is not None
        tags = flow_policy.tags(ctx, self.stage.policy) | {col.residency} | {h.residency for h in hits if h.residency}
        permitted = self.stage.policy.permitted(ctx.principal, model, RERANK.catalog_kind, tags, {})
        outbound = _outbound(col, permitted.deployments())
        sent = {i: h.text if outbound is None else outbound(h) for i, h in enumerate(hits)}
        sent = {i: text for i, text in sent.items() if text is not None}
        if not sent:
            return {}
        if outbound is not None:
            query = redact_found(query, detect(query))
        request = Request(RERANK, {"model": model, "query": query, "documents": list(sent.values())}, model,
                          data_tags=frozenset(tags))
        reply = await self.stage.gateway.complete(ctx.principal, request, parent=ctx)
        ctx.audit_detail["rerank"] = {"request_id": reply.headers.get("x-request-id"),
                                      "deployment": reply.headers.get("x-gureum-deployment"), "chunks": len(sent)}
        index = list(sent)
        return {index[r["index"]]: float(r["relevance_score"]) for r in (reply.body or {}).get("results", [])}


def _outbound(col: Collection, deps: Iterable[Deployment]) -> Any:
    """What of a chunk may go to `deps` under the collection's PII policy (None: all of it)."""
    external = any(d.region != "local" for d in deps)
    if not external or col.pii_policy == "allow":
        return None
    if col.pii_policy == "exclude":
        return lambda h: None if h.pii_types else h.text
    return lambda h: redact_found(h.text, detect(h.text)) if h.pii_types else h.text


class Retrieve:
    def __init__(self, knowledge: KnowledgeService, catalog: Catalog, policy: Policy, gateway: Gateway) -> None:
        self.knowledge = knowledge
        self.catalog = catalog
        self.policy = policy
        self.gateway = gateway

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        kind = ctx.op.knowledge
        if kind == "search":
            return await self._retrieve(ctx)
        if kind == "answer" or (kind == "rag_model" and ctx.model.startswith(RAG_PREFIX)):
            return await self._answer(ctx, next)
        return await next(ctx)

    @staticmethod
    def _record(ctx: Context, col: Collection, hits: list[Hit]) -> None:
        ctx.model_known = True  # `rag/<collection>` of a collection that exists
        ctx.resources.append(f"collection:{col.name}")
        for doc_id in dict.fromkeys(h.document_id for h in hits):
            ctx.resources.append(f"document:{col.name}/{doc_id}")
        ctx.data_tags.add(col.residency)
        ctx.data_tags.update(h.residency for h in hits if h.residency)
        for h in hits:
            ctx.pii_types.update(h.pii_types)

    @staticmethod
    def _audit(ctx: Context, col: Collection, query: str, hits: list[Hit], cited: list[Hit]) -> None:
        """What the retrieval audit keeps (and `audit_documents` indexes): ids, never text, and
        the query with its PII redacted."""
        p = ctx.principal
        assert p is not None
        ctx.audit_detail["retrieval"] = {
            "collection": col.name, "query": redact_found(query, detect(query)),
            "principals": p.principals(), "role": p.role.value,
            "returned": [{"document_id": h.document_id, "chunk_id": h.chunk_id} for h in hits],
            "cited": [h.chunk_id for h in cited],
        }

    async def _retrieve(self, ctx: Context) -> Reply:
        b = ctx.body
        p = ctx.principal
        assert p is not None
        options = Options(k=int(b.get("k") or 10), mode=b.get("mode") or "hybrid", reranker=b.get("reranker"))
        col, found = await self.knowledge.retrieve(p, str(b["collection"]), str(b["query"]), options, _Calls(self, ctx))
        hits = found.hits
        self._record(ctx, col, hits)
        self._audit(ctx, col, str(b["query"]), hits, hits)
        return Reply(body={"object": "list", "collection": col.name, "query": b["query"], "mode": options.mode,
                           "data": [answer.hit_json(h, found.rerank_scores.get(h.chunk_id)) for h in hits],
                           "citations": [answer.citation(i, h) for i, h in enumerate(hits, 1)],
                           "rerank": found.rerank})

    async def _answer(self, ctx: Context, next: Next) -> Reply:
        p = ctx.principal
        assert p is not None
        b = ctx.body
        chat = ctx.op.knowledge == "rag_model"
        if chat:
            name = ctx.model[len(RAG_PREFIX):]
            msgs = list(b.get("messages") or [])
            users = [i for i, m in enumerate(msgs) if m.get("role") == "user"]
            if not users:
                raise InvalidRequest("a rag/ model needs a user message to answer", param="messages")
            question = content_text(msgs[users[-1]].get("content"))
            history = [m for i, m in enumerate(msgs) if i != users[-1] and m.get("role") in ("user", "assistant")]
            requested = None
            # `rag` holds a chat's retrieval options, which OpenAI's schema has no place for.
            opts = b["rag"] if isinstance(b.get("rag"), dict) else {}
            k = int(opts.get("k") or DEFAULT_ANSWER_K)
            reranker = opts.get("reranker")
        else:
            name = str(b["collection"])
            question = str(b["query"])
            history = []
            requested = b.get("model")
            k = int(b.get("k") or DEFAULT_ANSWER_K)
            reranker = b.get("reranker")
        if not question.strip():
            raise InvalidRequest("the question is empty", param="messages" if chat else "query")
        options = Options(k=max(1, min(k, MAX_K)), reranker=str(reranker) if reranker else None)
        col, found = await self.knowledge.retrieve(p, name, question, options, _Calls(self, ctx))
        hits = found.hits
        self._record(ctx, col, hits)
        extra = {"rerank": found.rerank} if found.rerank else {}
        public_model = ctx.model if chat else f"{RAG_PREFIX}{col.name}"
        model, _, why = answer_plan(self.catalog, col, requested)
        ctx.route["rag"] = {"collection": col.name, "chunks": len(hits), "mode": "extractive" if model is None else "generative"}
        if model is None:
            text, used = answer.extractive(question, hits, reason="")
            self._audit(ctx, col, question, hits, used)
            cites = [answer.citation(i, h) for i, h in enumerate(used, 1)]
            ctx.route["rag"]["reason"] = why
            note = {"extractive": True, "reason": why, **extra}
            if ctx.stream:
                return Reply(stream=citations.extractive_stream(public_model, text, cites, note))
            return Reply(body=citations.extractive_body(chat, public_model, text, cites, note))
        ctx.model = model
        # The deployments this answer may go to decide its context budget and what of a PII chunk it sees.
        deps = list(flow_policy.permitted(ctx, self.policy).deployments())
        max_out = int(b.get("max_tokens") or b.get("max_completion_tokens") or min(d.settings.max_output_tokens for d in deps))
        budget = max(256, min(d.settings.context_window for d in deps) - max_out)
        messages, used = answer.grounded_messages(question, hits, budget, history=history,
                                                  transform=_outbound(col, deps))
        self._audit(ctx, col, question, hits, used)
        cites = [answer.citation(i, h) for i, h in enumerate(used, 1)]
        passthrough = {k2: v for k2, v in b.items()
                       if k2 not in ("messages", "model", "collection", "query", "k", "rag", "reranker")}
        if chat:
            system = [m for m in msgs if m.get("role") in ("system", "developer")]
            messages = [messages[0], *system, *messages[1:]]
        ctx.body = {**passthrough, "model": model, "messages": messages}
        if ctx.stream:
            ctx.body["stream"] = True
        reply = await next(ctx)
        footer = answer.sources_footer(used, answer.is_korean(question))
        if reply.stream is not None:
            reply.stream = citations.cite_stream(reply.stream, public_model, {"citations": cites, **extra}, footer)
            return reply
        body = reply.body or {}
        body["model"] = public_model
        body["citations"] = cites
        body.update(extra)
        if chat:
            return Reply(body=body, headers=reply.headers)
        content = ""
        if body.get("choices"):
            content = body["choices"][0].get("message", {}).get("content") or ""
        return Reply(body={"object": "answer", "model": public_model, "answer_model": model, "answer": content,
                           "extractive": False, "citations": cites, "usage": body.get("usage"), **extra},
                     headers=reply.headers)
