"""Fitting requests into token budgets (pure functions; the context stage and the knowledge layer
call them).

- `compact`: a long conversation keeps its system prompt and its most recent turns verbatim;
  older turns are replaced by one summary message (written by a cheap model, or — without one —
  the extractive fallback: the first sentence of each older message). If that still does not
  fit, the oldest turns are dropped, then the summary.
- `fit_passages`: RAG passages chosen by relevance until the budget is spent.

Token counts use `gureum.tokens` (a documented, slightly pessimistic estimate), so "saved" and
"fits" are estimates too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gureum.messages import content_text
from gureum.tokens import MESSAGE_OVERHEAD, estimate_messages, estimate_tokens

T = TypeVar("T")
SUMMARY_PREFIX_EN = "Summary of the earlier conversation"
SUMMARY_PREFIX_KO = "이전 대화 요약"
_SENTENCE_END = re.compile(r"(?<=[.!?。？！])\s+|(?<=[다요죠까])[.!?]?\s*\n|\n{2,}")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")




def is_korean(text: str) -> bool:
    letters = len(re.findall(r"[A-Za-z\uac00-\ud7a3]", text)) or 1
    return len(_HANGUL.findall(text)) / letters >= 0.3


@dataclass
class Split:
    system: list[dict[str, Any]]  # leading system/developer messages
    old: list[list[dict[str, Any]]]  # older turns, oldest first
    recent: list[list[dict[str, Any]]]  # the turns kept verbatim


def split_turns(messages: list[dict[str, Any]], keep_recent: int) -> Split:
    """A turn starts at a user message and holds the replies and tool results that follow it."""
    i = 0
    while i < len(messages) and messages[i].get("role") in ("system", "developer"):
        i += 1
    system = messages[:i]
    turns: list[list[dict[str, Any]]] = []
    for m in messages[i:]:
        if m.get("role") == "user" or not turns:
            turns.append([m])
        else:
            turns[-1].append(m)
    keep = max(1, keep_recent)
    return Split(system, turns[:-keep] if len(turns) > keep else [], turns[-keep:])


def first_sentences(text: str, max_chars: int = 200) -> str:
    text = " ".join(text.split()) if "\n" not in text else text.strip()
    parts = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    first = parts[0] if parts else text
    if len(first) > max_chars:
        first = first[: max_chars - 1].rstrip() + "…"
    return " ".join(first.split())


def extractive_summary(old: list[list[dict[str, Any]]], max_tokens: int) -> str:
    """The first sentence of every older message within `max_tokens`; when not all fit, the
    most recent ones are kept (they matter most to what comes next)."""
    lines: list[str] = []
    spent = 0
    for m in reversed([m for turn in old for m in turn]):
        text = content_text(m.get("content"))
        if not text.strip():
            continue
        line = f"- {m.get('role', 'user')}: {first_sentences(text)}"
        cost = estimate_tokens(line) + 1
        if spent + cost > max_tokens:
            break
        lines.append(line)
        spent += cost
    return "\n".join(reversed(lines))


def summary_message(summary: str, korean: bool) -> dict[str, Any]:
    prefix = SUMMARY_PREFIX_KO if korean else SUMMARY_PREFIX_EN
    return {"role": "system", "content": f"{prefix}:\n{summary}"}


def transcript(old: list[list[dict[str, Any]]]) -> str:
    return "\n".join(f"{m.get('role', 'user')}: {content_text(m.get('content'))}" for turn in old for m in turn)


@dataclass
class Compaction:
    messages: list[dict[str, Any]]
    before: int
    after: int
    method: str  # "none" | "summary" | "extractive" | "dropped"
    turns_compacted: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def saved(self) -> int:
        return max(0, self.before - self.after)


def compact(
    messages: list[dict[str, Any]],
    budget: int,
    keep_recent: int,
    *,
    tools: list[Any] | None = None,
    summary: str | None = None,
    summary_max_tokens: int = 400,
) -> Compaction:
    """Fit `messages` into `budget` input tokens: system prompt and the `keep_recent` latest turns
    verbatim, older turns replaced by `summary` (a model's summary) when it fits in the room
    left, else by the extractive summary sized to that room."""
    before = estimate_messages(messages, tools)
    if before <= budget:
        return Compaction(messages, before, before, "none")
    split = split_turns(messages, keep_recent)
    korean = is_korean(" ".join(content_text(m.get("content")) for m in messages[-3:]))
    recent = [m for turn in split.recent for m in turn]
    kept = [*split.system, *recent]
    fixed = estimate_messages(kept, tools)
    head = MESSAGE_OVERHEAD + estimate_tokens(summary_message("", korean)["content"])
    room = min(summary_max_tokens, budget - fixed - head)
    notes: list[str] = []
    method = "dropped"
    text = ""
    if split.old and room > 0:
        if summary is not None and estimate_tokens(summary) <= room:
            text, method = summary, "summary"
        else:
            if summary is not None:
                notes.append("the model's summary did not fit; used the extractive one")
            text, method = extractive_summary(split.old, room), "extractive"
    if not split.old:
        notes.append("nothing older than the recent turns to compact")
    out = [*split.system, summary_message(text, korean), *recent] if text else kept
    after = estimate_messages(out, tools)
    if after > budget:
        notes.append("the system prompt and the recent turns alone exceed the budget; sent as they are")
    return Compaction(out, before, after, method, len(split.old), notes)


def fit_passages(
    passages_with_scores: Sequence[tuple[T, float]],
    budget_tokens: int,
    *,
    text: Callable[[T], str] | None = None,
    separator_tokens: int = 2,
) -> list[T]:
    """The most relevant passages that fit in `budget_tokens`, most relevant first.

    `passages_with_scores` are (passage, relevance score) pairs in any order; `text` gives a
    passage's text (default: the passage itself if it is a string, else its `.text`). A passage
    that does not fit is skipped and smaller, less relevant ones may still be added."""
    def default_text(p: T) -> str:
        return p if isinstance(p, str) else str(getattr(p, "text", p))

    get = text or default_text
    ranked = sorted(enumerate(passages_with_scores), key=lambda x: (-x[1][1], x[0]))
    chosen: list[T] = []
    spent = 0
    for _, (passage, _score) in ranked:
        cost = estimate_tokens(get(passage)) + separator_tokens
        if spent + cost > budget_tokens:
            continue
        chosen.append(passage)
        spent += cost
    return chosen


__all__ = ["MESSAGE_OVERHEAD", "Compaction", "compact", "extractive_summary", "fit_passages", "split_turns"]
