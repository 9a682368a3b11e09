"""Filters for text coming back from a model: unmask the caller's own values, and redact PII of
the types the policy redacts or blocks for where the call went (such PII in a reply cannot have
come from the caller, so it is a leak). `TextFilter` does both for one streamed text field,
holding back only what it must: the tail that could still grow into a placeholder, and the last
LEAK_HOLD characters, so a value split across chunks is seen whole before it is released."""

from __future__ import annotations

from collections.abc import Callable

from gureum.governance.pii.engine import detect
from gureum.governance.pii.entity import Entity
from gureum.governance.pii.masking import Action, StreamUnmasker, Vault, apply

LEAK_HOLD = 64  # characters a leak-checked stream holds back (longer than any PII value)
LEAK_CONTEXT = 32  # released characters kept as context for the detector's cue words

# The strictest action the policy takes on a PII type where the call may go.
Strictest = Callable[[str], str]


def scrub(text: str) -> str:
    """`text` with every PII value replaced by `[TYPE]`: for what the platform echoes or keeps that
    a client wrote (an error naming a model or a collection, a request id)."""
    return apply(text, ents, {e.type: Action.REDACT for e in ents}).text if (ents := detect(text)) else text


class Leaks:
    """Redacts PII whose type the policy redacts or blocks; remembers the types it redacted."""

    def __init__(self, strictest: Strictest) -> None:
        self.strictest = strictest
        self.seen: set[str] = set()

    def forbidden(self, ents: list[Entity]) -> list[Entity]:
        return [e for e in ents if self.strictest(e.type) in ("redact", "block")]

    def redact(self, text: str, ents: list[Entity]) -> str:
        if not ents:
            return text
        self.seen.update(e.type for e in ents)
        return apply(text, ents, {e.type: Action.REDACT for e in ents}).text

    def __call__(self, text: str) -> str:
        return self.redact(text, self.forbidden(detect(text))) if text else text


class StreamLeaks:
    """`Leaks` over a stream: holds back the last LEAK_HOLD characters (never cutting inside a
    detected entity) so a value split across chunks is seen whole."""

    def __init__(self, leaks: Leaks) -> None:
        self.leaks = leaks
        self.buf = ""
        self.context = ""

    def _release(self, final: bool) -> str:
        full = self.context + self.buf
        lead = len(self.context)
        ents = [e for e in detect(full) if e.start >= lead]
        cut = len(full) if final else len(full) - LEAK_HOLD
        for e in ents:
            if e.start < cut < e.end:
                cut = e.start
        if cut <= lead:
            return ""
        segment = full[lead:cut]
        bad = [Entity(e.start - lead, e.end - lead, e.type, e.score) for e in self.leaks.forbidden(ents) if e.end <= cut]
        self.context = full[max(0, cut - LEAK_CONTEXT):cut]
        self.buf = full[cut:]
        return self.leaks.redact(segment, bad)

    def feed(self, text: str) -> str:
        self.buf += text
        return self._release(False) if len(self.buf) > LEAK_HOLD else ""

    def flush(self) -> str:
        return self._release(True) if self.buf else ""


class TextFilter:
    """One streamed text field: unmask with `vault`, then (with `leaks`) leak-check."""

    def __init__(self, vault: Vault | None, leaks: Leaks | None) -> None:
        self.unmasker = StreamUnmasker(vault) if vault else None
        self.leaks = StreamLeaks(leaks) if leaks else None

    def feed(self, text: str) -> str:
        if self.unmasker is not None:
            text = self.unmasker.feed(text)
        return self.leaks.feed(text) if self.leaks is not None and text else text

    def flush(self) -> str:
        text = self.unmasker.flush() if self.unmasker is not None else ""
        if self.leaks is None:
            return text
        return self.leaks.feed(text) + self.leaks.flush() if text else self.leaks.flush()


__all__ = ["LEAK_CONTEXT", "LEAK_HOLD", "Leaks", "StreamLeaks", "Strictest", "TextFilter", "scrub"]
