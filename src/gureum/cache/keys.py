"""What makes two requests "the same": normalisation and scoping of cache keys.

A request is reduced to a canonical JSON document and hashed. Everything in the body is part of
the key except fields listed in `IGNORED` (transport and bookkeeping that cannot change the
answer), so a parameter we do not know about separates entries instead of merging them.

- `exact` hashes the scope and the whole conversation.
- `scope` hashes the same document with the last user turn left out: the semantic cache only
  compares requests inside one scope, by the meaning of that last turn. The system prompt,
  earlier turns, tools, parameters, model and tenant are therefore never fuzzy-matched.

The body the cache sees is the PII-masked one (the cache stage runs after the guard), so keys and
stored answers hold placeholders, never the raw identifiers.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from typing import Any

import orjson

from gureum.cache.settings import CacheSettings, Share

# 2: collection generations are counted per tenant, so a key made under 1 may name a generation
# that no longer means the same documents.
KEY_VERSION = 2
RAG_PREFIX = "rag/"

# Fields that cannot change the answer (transport, accounting labels, prompt-cache hints).
IGNORED = frozenset({"model", "messages", "stream", "stream_options", "user", "metadata", "store", "service_tier"})


@dataclass(frozen=True, slots=True)
class Policy:
    """The cache policy that applies to one request, after tenant and collection overrides."""

    enabled: bool
    exact: bool
    semantic: bool
    threshold: float | None  # a fixed decision probability, or None: derive it from the budget
    false_hit_budget: float
    ttl: int
    share: Share
    collection: str | None


def collection_of(model: str) -> str | None:
    if not model.startswith(RAG_PREFIX):
        return None
    return model[len(RAG_PREFIX) :] or None


def policy_for(settings: CacheSettings, tenant_id: str, model: str, collection: str | None = None) -> Policy:
    """`collection`: the knowledge collection the answer is grounded in — given by the retrieval
    stage (which rewrites `rag/<collection>` to the answer model before the cache sees it), or
    taken from a `rag/<collection>` model name."""
    t = settings.tenants.get(tenant_id)
    collection = collection or collection_of(model)
    c = settings.collections.get(collection) if collection else None

    def pick(name: str, default: Any) -> Any:
        for layer in (c, t):  # the collection is more specific than the tenant
            value = getattr(layer, name, None) if layer is not None else None
            if value is not None:
                return value
        return default

    # The most specific layer that sets a threshold or a budget decides; a fixed threshold wins
    # over a budget of the same layer.
    threshold, budget = settings.semantic_threshold, settings.false_hit_budget
    for layer in (c, t):
        if layer is not None and (layer.threshold is not None or layer.false_hit_budget is not None):
            threshold = layer.threshold
            budget = layer.false_hit_budget if layer.false_hit_budget is not None else settings.false_hit_budget
            break
    enabled = settings.enabled and pick("enabled", True)
    return Policy(
        enabled=enabled,
        exact=enabled and settings.exact,
        semantic=enabled and settings.semantic and pick("semantic", True),
        threshold=threshold,
        false_hit_budget=budget,
        ttl=pick("ttl", settings.ttl),
        share=t.share if t is not None and t.share is not None else settings.share,
        collection=collection,
    )


def normalise_text(text: str) -> str:
    """NFC, unified line ends, trimmed ends. Inner whitespace is kept: it matters in code."""
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n")).strip()


def _part(part: Any) -> Any:
    if not isinstance(part, dict):
        return part
    # `cache_control` is a provider prompt-cache hint, not content.
    out = {k: v for k, v in part.items() if k != "cache_control"}
    if isinstance(out.get("text"), str):
        out["text"] = normalise_text(out["text"])
    return out


def content_text(content: Any) -> str:
    if isinstance(content, str):
        return normalise_text(content)
    if isinstance(content, list):
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type", "text") == "text"]
        return normalise_text("\n".join(t for t in texts if isinstance(t, str)))
    return ""


def _messages(messages: list[Any]) -> list[Any]:
    """Canonical messages. Tool-call ids are random per call, so they become positions."""
    ids: dict[str, str] = {}
    out: list[Any] = []
    for m in messages:
        if not isinstance(m, dict):
            out.append(m)
            continue
        n: dict[str, Any] = {}
        for k, v in m.items():
            if v is None:
                continue
            if k == "content":
                n[k] = normalise_text(v) if isinstance(v, str) else [_part(p) for p in v] if isinstance(v, list) else v
            elif k == "tool_calls" and isinstance(v, list):
                calls = []
                for call in v:
                    call = dict(call) if isinstance(call, dict) else call
                    if isinstance(call, dict) and "id" in call:
                        call["id"] = ids.setdefault(str(call["id"]), f"call_{len(ids)}")
                    calls.append(call)
                n[k] = calls
            elif k == "tool_call_id":
                n[k] = ids.setdefault(str(v), f"call_{len(ids)}")
            else:
                n[k] = v
        out.append(n)
    return out


def _params(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in IGNORED and v is not None}


def _digest(doc: Any) -> str:
    return hashlib.sha256(orjson.dumps(doc, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()


@dataclass(frozen=True, slots=True)
class CacheKeys:
    exact: str
    scope: str | None  # None: the request cannot be matched semantically
    query: str  # the last user turn, normalised ("" when there is none)
    tenant_id: str
    collection: str | None
    model: str  # the requested model name, for purging by model


# The grounded prompt of a RAG answer ends with the question after one of these labels
# (gureum.knowledge.answer.grounded_messages); what comes before it is the retrieved context.
GROUNDED_QUESTION = ("\n\n질문: ", "\n\nQuestion: ")


def split_grounded(text: str) -> tuple[str, str] | None:
    """(retrieved context, question) of a grounded RAG prompt, or None if it is not one."""
    for label in GROUNDED_QUESTION:
        head, sep, question = text.rpartition(label)
        if sep and question.strip():
            return head, question.strip()
    return None


def last_user_index(messages: list[Any]) -> int | None:
    if messages and isinstance(messages[-1], dict) and messages[-1].get("role") == "user":
        return len(messages) - 1
    return None


def build_keys(
    *,
    body: dict[str, Any],
    model: str,
    tenant_id: str,
    user_id: str | None,
    principals: list[str],
    policy: Policy,
    generation: int = 0,
) -> CacheKeys:
    """Keys for one request. `principals` (the caller's ACL names) and the collection `generation`
    are part of the key for `rag/` models only: their answers depend on what the caller may read
    and on the documents at the time."""
    raw_messages = body.get("messages")
    messages = _messages(raw_messages) if isinstance(raw_messages, list) else []
    scope: dict[str, Any] = {"v": KEY_VERSION, "tenant": tenant_id, "model": model, "params": _params(body)}
    if policy.share == "user":
        scope["user"] = user_id
    if policy.collection is not None:
        scope["acl"] = sorted(set(principals))
        scope["collection"] = policy.collection
        scope["generation"] = generation
    exact = _digest({**scope, "messages": messages})
    i = last_user_index(messages)
    query = ""
    semantic_scope = None
    if i is not None:
        last = messages[i]
        content = last.get("content")
        only_text = isinstance(content, str) or (
            isinstance(content, list) and all(isinstance(p, dict) and p.get("type", "text") == "text" for p in content)
        )
        query = content_text(content)
        extra = {k: v for k, v in last.items() if k not in ("content", "role")}  # e.g. `name`
        if policy.collection is not None:
            # A RAG answer may be reused for a paraphrased question only with the same retrieved
            # context: the context joins the scope, the question alone is compared.
            grounded = split_grounded(query)
            if grounded is None:
                only_text = False
            else:
                extra["context"], query = grounded
        if only_text and query:
            semantic_scope = _digest({**scope, "history": messages[:i], "last": extra})
    elif not messages and isinstance(body.get("query"), str):
        # Answer-style bodies ({"query": ..., ...}) outside the chat shape.
        query = normalise_text(body["query"])
        params = {k: v for k, v in scope["params"].items() if k != "query"}
        semantic_scope = _digest({**scope, "params": params, "history": []}) if query else None
    return CacheKeys(exact, semantic_scope, query, tenant_id, policy.collection, model)
