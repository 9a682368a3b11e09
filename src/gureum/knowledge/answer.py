"""Grounded answers: the prompt built from retrieved chunks within a token budget, numbered
citations, and the extractive answer used when no generative model is configured (or only the
embedded demo model, which cannot answer from Korean documents): the best supporting
passages, quoted and cited, and labelled as such."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from gureum.knowledge import lexical
from gureum.knowledge.index import Hit
from gureum.tokens import estimate_tokens

_HANGUL = re.compile(r"[\uac00-\ud7a3]")
_SENT = re.compile(r"(?<=[.!?。])\s+|(?<=다\.)\s*|\n+")

SYSTEM_KO = (
    "당신은 주어진 문서 발췌만을 근거로 답하는 도우미입니다. 각 발췌에는 [번호]가 붙어 있습니다. "
    "답의 근거가 된 발췌 번호를 문장 끝에 [1]처럼 표시하세요. 발췌에 답이 없으면 모른다고 말하고 추측하지 마세요."
)
SYSTEM_EN = (
    "You answer only from the numbered document excerpts provided. Cite the excerpts you used with their numbers, "
    "like [1], at the end of the sentence they support. If the excerpts do not contain the answer, say you do not "
    "know; do not guess."
)


def is_korean(text: str) -> bool:
    return bool(_HANGUL.search(text))


def citation(n: int, h: Hit, snippet_chars: int = 300) -> dict[str, Any]:
    return {
        "index": n, "document_id": h.document_id, "chunk_id": h.chunk_id, "uri": h.uri, "title": h.title,
        "heading_path": h.heading_path, "page": h.page, "start": h.start, "end": h.end, "score": round(h.score, 6),
        "text": h.text[:snippet_chars],
    }


def hit_json(h: Hit, rerank_score: float | None = None) -> dict[str, Any]:
    """`score` is the fused score; `rerank_score` the reranker's, which ordered the hits when set."""
    return {
        "chunk_id": h.chunk_id, "document_id": h.document_id, "uri": h.uri, "title": h.title, "text": h.text,
        "heading_path": h.heading_path, "page": h.page, "start": h.start, "end": h.end, "ordinal": h.ordinal,
        "score": round(h.score, 6), "scores": {"lexical": round(h.lexical, 6), "dense": round(h.dense, 6)},
        "rerank_score": None if rerank_score is None else round(rerank_score, 6), "pii_types": h.pii_types,
    }


def grounded_messages(
    question: str,
    hits: list[Hit],
    budget_tokens: int,
    *,
    history: list[dict[str, Any]] | None = None,
    transform: Callable[[Hit], str | None] | None = None,
) -> tuple[list[dict[str, Any]], list[Hit]]:
    """Chat messages that ground the answer in `hits` (best first), adding excerpts while the
    prompt stays within `budget_tokens`. `transform` may rewrite an excerpt (PII masking) or drop
    it (None). Returns the messages and the hits actually used, numbered in that order."""
    ko = is_korean(question)
    system = SYSTEM_KO if ko else SYSTEM_EN
    used: list[Hit] = []
    parts: list[str] = []
    spent = estimate_tokens(system) + estimate_tokens(question) + 32
    spent += sum(estimate_tokens(str(m.get("content") or "")) + 4 for m in history or [])
    for h in hits:
        body = transform(h) if transform else h.text
        if body is None:
            continue
        head = " > ".join(p for p in [h.title, *h.heading_path] if p)
        block = f"[{len(used) + 1}] {head}\n{body}"
        cost = estimate_tokens(block) + 2
        if spent + cost > budget_tokens:
            if used:
                break
            continue
        spent += cost
        used.append(h)
        parts.append(block)
    label = "문서 발췌" if ko else "Document excerpts"
    qlabel = "질문" if ko else "Question"
    context = "\n\n".join(parts) if parts else ("(관련 문서 없음)" if ko else "(no relevant documents)")
    messages = [{"role": "system", "content": system}, *(history or []),
                {"role": "user", "content": f"{label}:\n\n{context}\n\n{qlabel}: {question}"}]
    return messages, used


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENT.split(text) if s and s.strip()]


def extractive(question: str, hits: list[Hit], *, passages: int = 3, reason: str = "") -> tuple[str, list[Hit]]:
    """The best supporting sentences of the top chunks, each cited. No text is generated."""
    qterms = set(lexical.terms(question))
    used: list[Hit] = []
    lines: list[str] = []
    for h in hits[:passages]:
        sents = _sentences(h.text) or [h.text]
        scored = sorted(range(len(sents)), key=lambda i: -len(qterms & set(lexical.terms(sents[i]))))
        keep = sorted(scored[:2])
        quote = " ".join(sents[i] for i in keep)
        used.append(h)
        lines.append(f"[{len(used)}] {quote}")
    ko = is_korean(question)
    if not used:
        text = ("관련 문서를 찾지 못했습니다." if ko else "No relevant documents were found.")
    else:
        head = ("생성 모델 없이 문서에서 가장 관련 있는 부분을 그대로 발췌했습니다:" if ko
                else "Extractive answer (no generative model was used) — the most relevant passages, quoted:")
        text = head + "\n\n" + "\n".join(lines)
    if reason:
        text += f"\n\n({reason})"
    return text, used


def sources_footer(used: list[Hit], korean: bool) -> str:
    if not used:
        return ""
    label = "출처" if korean else "Sources"
    rows = [f"[{i}] {h.title or h.uri} ({h.uri})" for i, h in enumerate(used, 1)]
    return f"\n\n{label}:\n" + "\n".join(rows)
