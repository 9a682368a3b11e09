"""Retrieve: knowledge inside the flow. Runs after authorize, before routing.

- `/v1/retrieve` (Endpoint.RETRIEVE): hybrid retrieval as the caller (their principals decide
  what can be found) — the stage answers itself.
- `/v1/answer` (Endpoint.ANSWER) and chat with `model="rag/<collection>"`: retrieve with the
  last user message, record the documents used (`ctx.resources`) and their residency tags
  (`ctx.data_tags`, which residency routing reads), build a grounded prompt within the answer
  model's context budget (masking or dropping PII chunks for external models as the collection's
  policy says), rewrite `ctx.model` to the collection's answer model and hand on to routing;
  the reply comes back with numbered citations (a `citations` field, and in a stream a final
  chunk carrying them). With no generative model — or only the embedded demo model — the stage
  answers extractively itself: the best supporting passages, quoted, cited, and labelled so.

Both rerank when the collection (or the call) names a reranker: a sub-call the stage makes itself,
governed like the answer model — the tenant's allow-list, residency over the tags of the chunks
it is sent, the collection's PII policy for external deployments — and billed on its own ledger
row. A failing reranker leaves the fused order and a `rerank` field saying why.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from functools import partial
from typing import Any

from gureum.errors import GureumError, InvalidRequest
from gureum.flow.stages.account import sub_call_row
from gureum.flow.types import Context, Endpoint, Next, Reply
from gureum.governance.pii import detect
from gureum.governance.policy import Policy
from gureum.governance.recorder import Recorder
from gureum.knowledge import answer
from gureum.knowledge.collections import Collection
from gureum.knowledge.index import Hit
from gureum.knowledge.rag_models import RAG_PREFIX, answer_plan
from gureum.knowledge.retrieve import MAX_K, Options
from gureum.knowledge.service import KnowledgeService
from gureum.messages import content_text
from gureum.routing.catalog import Catalog, Deployment
from gureum.routing.router import Router

DEFAULT_ANSWER_K = 5


def _mask(text: str) -> str:
    """`text` with every PII span the detector finds replaced by `[TYPE]`."""
    out, last = [], 0
    for e in detect(text):
        out.append(text[last:e.start])
        out.append(f"[{e.type}]")
        last = e.end
    out.append(text[last:])
    return "".join(out)


class Retrieve:
    def __init__(self, knowledge: KnowledgeService, catalog: Catalog, policy: Policy, router: Router,
                 recorder: Recorder) -> None:
        self.knowledge = knowledge
        self.catalog = catalog
        self.policy = policy
        self.router = router
        self.recorder = recorder

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        if ctx.endpoint is Endpoint.RETRIEVE:
            return await self._retrieve(ctx)
        if ctx.endpoint is Endpoint.ANSWER or (ctx.endpoint is Endpoint.CHAT and ctx.model.startswith(RAG_PREFIX)):
            return await self._answer(ctx, next)
        return await next(ctx)

    # -- retrieval -------------------------------------------------------------------------------

    def _record(self, ctx: Context, col: Collection, hits: list[Hit]) -> None:
        ctx.resources.append(f"collection:{col.name}")
        for doc_id in dict.fromkeys(h.document_id for h in hits):
            ctx.resources.append(f"document:{col.name}/{doc_id}")
        ctx.data_tags.add(col.residency)
        ctx.data_tags.update(h.residency for h in hits if h.residency)
        for h in hits:
            ctx.pii_types.update(h.pii_types)

    async def _retrieve(self, ctx: Context) -> Reply:
        b = ctx.body
        p = ctx.principal
        assert p is not None
        options = Options(k=int(b.get("k") or 10), mode=b.get("mode") or "hybrid", reranker=b.get("reranker"))
        col, found = await self.knowledge.retrieve(p, str(b["collection"]), str(b["query"]), options,
                                                   partial(self._rerank, ctx))
        hits = found.hits
        self._record(ctx, col, hits)
        return Reply(body={"object": "list", "collection": col.name, "query": b["query"], "mode": options.mode,
                           "data": [answer.hit_json(h, found.rerank_scores.get(h.chunk_id)) for h in hits],
                           "citations": [answer.citation(i, h) for i, h in enumerate(hits, 1)],
                           "rerank": found.rerank})

    async def _rerank(self, ctx: Context, col: Collection, model: str, query: str, hits: list[Hit]) -> dict[int, float]:
        """The rerank model's scores for `hits` (index -> score), governed as the answer model is;
        chunks the PII policy keeps from its deployments are not sent, and neither is PII in the query."""
        assert ctx.principal is not None
        route: dict[str, Any] = {"model": model}
        ctx.route["rerank"] = route
        plan = self.policy.keep_allowed(ctx.principal, self.catalog.plan(model, "rerank"), route)
        tags = self.policy.merge_tags(ctx) | {col.residency} | {h.residency for h in hits if h.residency}
        plan = self.policy.keep_regions(plan, tags, route)
        transform = self._transform(col, plan.deployments())
        texts = [h.text if transform is None else transform(h) for h in hits]
        sent = {i: text for i, text in enumerate(texts) if text is not None}
        if not sent:
            return {}
        if transform is not None:
            query = _mask(query)
        docs = list(sent.values())
        started = time.perf_counter()
        dep, result = await self.router.call(plan, route, lambda d: d.provider.rerank(query, docs, d.model))
        elapsed = (time.perf_counter() - started) * 1000.0
        self.recorder.submit(ledger=sub_call_row(ctx, "rerank", model, dep, result.usage, elapsed,
                                                 {"purpose": "rerank", "for": ctx.request_id}))
        ctx.audit_detail["rerank"] = {"deployment": dep.id, "region": dep.region, "chunks": len(docs)}
        index = list(sent)
        return {index[j]: score for j, score in result.scores.items()}

    # -- answers ---------------------------------------------------------------------------------

    @staticmethod
    def _transform(col: Collection, deps: Iterable[Deployment]) -> Callable[[Hit], str | None] | None:
        """What of a chunk may go to `deps` under the collection's PII policy (None: all of it)."""
        external = any(d.region != "local" for d in deps)
        if not external or col.pii_policy == "allow":
            return None
        if col.pii_policy == "exclude":
            return lambda h: None if h.pii_types else h.text
        return lambda h: _mask(h.text) if h.pii_types else h.text

    async def _answer(self, ctx: Context, next: Next) -> Reply:
        p = ctx.principal
        assert p is not None
        b = ctx.body
        chat = ctx.endpoint is Endpoint.CHAT
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
        k = max(1, min(k, MAX_K))
        options = Options(k=k, reranker=str(reranker) if reranker else None)
        col, found = await self.knowledge.retrieve(p, name, question, options, partial(self._rerank, ctx))
        hits = found.hits
        self._record(ctx, col, hits)
        extra = {"rerank": found.rerank} if found.rerank else {}
        public_model = ctx.model if chat else f"{RAG_PREFIX}{col.name}"
        model, deps, why = answer_plan(self.catalog, col, requested)
        ctx.route["rag"] = {"collection": col.name, "chunks": len(hits), "mode": "extractive" if model is None else "generative"}
        if model is None:
            text, used = answer.extractive(question, hits, reason="")
            cites = [answer.citation(i, h) for i, h in enumerate(used, 1)]
            ctx.route["rag"]["reason"] = why
            return self._local_reply(ctx, chat, public_model, text, cites, {"extractive": True, "reason": why, **extra})
        max_out = int(b.get("max_tokens") or b.get("max_completion_tokens") or min(d.settings.max_output_tokens for d in deps))
        window = min(d.settings.context_window for d in deps)
        budget = max(256, window - max_out)
        messages, used = answer.grounded_messages(question, hits, budget, history=history,
                                                  transform=self._transform(col, deps))
        cites = [answer.citation(i, h) for i, h in enumerate(used, 1)]
        passthrough = {k2: v for k2, v in b.items()
                       if k2 not in ("messages", "model", "collection", "query", "k", "rag", "reranker")}
        if chat:
            system = [m for m in msgs if m.get("role") in ("system", "developer")]
            messages = [messages[0], *system, *messages[1:]]
        ctx.body = {**passthrough, "model": model, "messages": messages}
        if ctx.stream:
            ctx.body["stream"] = True
        ctx.model = model
        reply = await next(ctx)
        korean = answer.is_korean(question)
        footer = answer.sources_footer(used, korean)
        if reply.stream is not None:
            reply.stream = self._cite_stream(reply.stream, public_model, {"citations": cites, **extra}, footer)
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

    async def _cite_stream(self, stream: AsyncIterator[dict[str, Any]], model: str, fields: dict[str, Any],
                           footer: str) -> AsyncIterator[dict[str, Any]]:
        """Relay the answer, with the sources footer and `fields` (citations, rerank) in a chunk of
        their own before the finishing one."""
        sent = False
        last_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        async for chunk in stream:
            last_id = chunk.get("id", last_id)
            choices = chunk.get("choices") or []
            if not sent and choices and choices[0].get("finish_reason"):
                yield self._citation_chunk(last_id, model, footer, fields)
                sent = True
            chunk["model"] = model
            yield chunk
        if not sent:
            yield self._citation_chunk(last_id, model, footer, fields)

    @staticmethod
    def _citation_chunk(cid: str, model: str, footer: str, fields: dict[str, Any]) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": {"content": footer}, "finish_reason": None}], **fields}

    def _local_reply(self, ctx: Context, chat: bool, model: str, text: str, cites: list[dict[str, Any]],
                     note: dict[str, Any]) -> Reply:
        """The extractive answer; `note` says so (and carries the rerank report, if any)."""
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if not ctx.stream:
            if not chat:
                return Reply(body={"object": "answer", "model": model, "answer_model": None, "answer": text,
                                   "citations": cites, "usage": None, **note})
            return Reply(body={
                "id": cid, "object": "chat.completion", "created": created, "model": model,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop",
                             "logprobs": None}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, "citations": cites, **note,
            })

        async def gen() -> AsyncIterator[dict[str, Any]]:
            base = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model}
            yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
            for line in text.splitlines(keepends=True):
                yield {**base, "choices": [{"index": 0, "delta": {"content": line}, "finish_reason": None}]}
            yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "citations": cites, **note}

        return Reply(stream=gen())


__all__ = ["RAG_PREFIX", "GureumError", "Retrieve"]
