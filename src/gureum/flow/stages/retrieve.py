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
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from gureum.errors import GureumError, InvalidRequest
from gureum.flow.types import Context, Endpoint, Next, Reply
from gureum.knowledge import answer
from gureum.knowledge.collections import Collection
from gureum.knowledge.index import Hit
from gureum.knowledge.rag_models import RAG_PREFIX, answer_plan
from gureum.knowledge.retrieve import MAX_K, Options
from gureum.knowledge.service import KnowledgeService
from gureum.messages import content_text
from gureum.routing.catalog import Catalog, Deployment

DEFAULT_ANSWER_K = 5




class Retrieve:
    def __init__(self, knowledge: KnowledgeService, catalog: Catalog) -> None:
        self.knowledge = knowledge
        self.catalog = catalog

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
        options = Options(k=int(b.get("k") or 10), mode=b.get("mode") or "hybrid")
        col, hits = await self.knowledge.retrieve(p, str(b["collection"]), str(b["query"]), options)
        self._record(ctx, col, hits)
        return Reply(body={"object": "list", "collection": col.name, "query": b["query"], "mode": options.mode,
                           "data": [answer.hit_json(h) for h in hits],
                           "citations": [answer.citation(i, h) for i, h in enumerate(hits, 1)]})

    # -- answers ---------------------------------------------------------------------------------

    def _transform(self, col: Collection, deps: list[Deployment]) -> Callable[[Hit], str | None] | None:
        external = any(d.region != "local" for d in deps)
        if not external or col.pii_policy == "allow":
            return None
        if col.pii_policy == "exclude":
            return lambda h: None if h.pii_types else h.text
        try:
            from gureum.governance.pii import detect  # type: ignore[attr-defined]
        except ImportError:
            from gureum.governance.pii.engine import detect

        def mask(h: Hit) -> str:
            if not h.pii_types:
                return h.text
            out, last = [], 0
            for e in detect(h.text):
                out.append(h.text[last:e.start])
                out.append(f"[{e.type}]")
                last = e.end
            out.append(h.text[last:])
            return "".join(out)

        return mask

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
            k = int((b.get("rag") or {}).get("k") or DEFAULT_ANSWER_K) if isinstance(b.get("rag"), dict) else DEFAULT_ANSWER_K
        else:
            name = str(b["collection"])
            question = str(b["query"])
            history = []
            requested = b.get("model")
            k = int(b.get("k") or DEFAULT_ANSWER_K)
        if not question.strip():
            raise InvalidRequest("the question is empty", param="messages" if chat else "query")
        k = max(1, min(k, MAX_K))
        col, hits = await self.knowledge.retrieve(p, name, question, Options(k=k))
        self._record(ctx, col, hits)
        public_model = ctx.model if chat else f"{RAG_PREFIX}{col.name}"
        model, deps, why = answer_plan(self.catalog, col, requested)
        ctx.route["rag"] = {"collection": col.name, "chunks": len(hits), "mode": "extractive" if model is None else "generative"}
        if model is None:
            text, used = answer.extractive(question, hits, reason="")
            cites = [answer.citation(i, h) for i, h in enumerate(used, 1)]
            ctx.route["rag"]["reason"] = why
            return self._local_reply(ctx, chat, public_model, text, cites, why)
        max_out = int(b.get("max_tokens") or b.get("max_completion_tokens") or min(d.settings.max_output_tokens for d in deps))
        window = min(d.settings.context_window for d in deps)
        budget = max(256, window - max_out)
        messages, used = answer.grounded_messages(question, hits, budget, history=history,
                                                  transform=self._transform(col, deps))
        cites = [answer.citation(i, h) for i, h in enumerate(used, 1)]
        passthrough = {k2: v for k2, v in b.items() if k2 not in ("messages", "model", "collection", "query", "k", "rag")}
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
            reply.stream = self._cite_stream(reply.stream, public_model, cites, footer, chat)
            return reply
        body = reply.body or {}
        body["model"] = public_model
        body["citations"] = cites
        if chat:
            return Reply(body=body, headers=reply.headers)
        content = ""
        if body.get("choices"):
            content = body["choices"][0].get("message", {}).get("content") or ""
        return Reply(body={"object": "answer", "model": public_model, "answer_model": model, "answer": content,
                           "extractive": False, "citations": cites, "usage": body.get("usage")}, headers=reply.headers)

    async def _cite_stream(self, stream: AsyncIterator[dict[str, Any]], model: str, cites: list[dict[str, Any]],
                           footer: str, chat: bool) -> AsyncIterator[dict[str, Any]]:
        sent = False
        last_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        async for chunk in stream:
            last_id = chunk.get("id", last_id)
            choices = chunk.get("choices") or []
            if not sent and choices and choices[0].get("finish_reason"):
                yield self._citation_chunk(last_id, model, footer, cites)
                sent = True
            chunk["model"] = model
            yield chunk
        if not sent:
            yield self._citation_chunk(last_id, model, footer, cites)

    @staticmethod
    def _citation_chunk(cid: str, model: str, footer: str, cites: list[dict[str, Any]]) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": model,
                "choices": [{"index": 0, "delta": {"content": footer}, "finish_reason": None}], "citations": cites}

    def _local_reply(self, ctx: Context, chat: bool, model: str, text: str, cites: list[dict[str, Any]],
                     why: str) -> Reply:
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        note = {"extractive": True, "reason": why}
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
