"""What to do with detected PII: mask reversibly, redact, block or allow, per entity type.

Masking swaps each value for a placeholder such as `<KR_PHONE_1>` and keeps the pair in a
`Vault` that lives for one request, so the same value always gets the same placeholder (the
model can still tell two people apart) and the reply can be unmasked for the caller who sent
the values. Streamed replies are unmasked by `StreamUnmasker`, which holds back only a tail
that could still grow into a placeholder.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

from gureum.errors import PolicyBlocked
from gureum.governance.pii.entity import Entity


class Action(StrEnum):
    MASK = "mask"  # reversible placeholder, restored in the reply
    REDACT = "redact"  # irreversible "[TYPE]"
    BLOCK = "block"  # refuse the whole request
    ALLOW = "allow"  # pass through unchanged


_PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+>")


class Vault:
    """Placeholder ↔ value pairs for one request. Never log or persist it: it holds the PII."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self._by_placeholder: dict[str, str] = {}
        self._counts: Counter[str] = Counter()

    def placeholder(self, type_: str, value: str) -> str:
        """The placeholder for `value`, minting `<TYPE_n>` the first time it is seen."""
        key = (type_, value)
        found = self._by_value.get(key)
        if found is None:
            self._counts[type_] += 1
            found = f"<{type_}_{self._counts[type_]}>"
            self._by_value[key] = found
            self._by_placeholder[found] = value
        return found

    def value(self, placeholder: str) -> str | None:
        return self._by_placeholder.get(placeholder)

    def placeholders(self) -> list[str]:
        return list(self._by_placeholder)

    def __len__(self) -> int:
        return len(self._by_placeholder)

    def __repr__(self) -> str:
        # The values are the secret; show only how many there are.
        return f"Vault({len(self)} placeholders)"


@dataclass(frozen=True, slots=True)
class MaskResult:
    text: str
    vault: Vault
    types_seen: frozenset[str]


def apply(
    text: str,
    entities: Iterable[Entity],
    actions: Mapping[str, Action],
    *,
    vault: Vault | None = None,
    default: Action = Action.MASK,
) -> MaskResult:
    """Apply each entity type's action to `text`. Types missing from `actions` get `default`
    (mask: an unknown type fails closed). Pass the same `vault` for every message of one
    request so that a value repeated across messages keeps its placeholder.

    Raises `PolicyBlocked`, naming the blocked types but never their values, if any entity's
    action is `block`; nothing is masked in that case.
    """
    vault = vault if vault is not None else Vault()
    ordered = sorted(_every_occurrence(text, list(entities)), key=lambda e: (e.start, -e.end))
    blocked = sorted({e.type for e in ordered if actions.get(e.type, default) is Action.BLOCK})
    if blocked:
        raise PolicyBlocked(
            f"The request contains {', '.join(blocked)}, which the PII policy blocks. "
            "Remove that information and retry, or ask an administrator to change the policy.",
            param="messages",
        )
    parts: list[str] = []
    cursor = 0
    for e in ordered:
        if e.start < cursor:
            continue  # overlapping spans were resolved upstream; never cut one twice
        action = actions.get(e.type, default)
        if action is Action.ALLOW:
            continue
        parts.append(text[cursor : e.start])
        value = text[e.start : e.end]
        parts.append(vault.placeholder(e.type, value) if action is Action.MASK else f"[{e.type}]")
        cursor = e.end
    parts.append(text[cursor:])
    return MaskResult("".join(parts), vault, frozenset(e.type for e in ordered))


MIN_REPEAT = 6  # a found value this long is masked wherever else it occurs in the text


def _every_occurrence(text: str, entities: list[Entity], known: Mapping[str, Entity] | None = None) -> list[Entity]:
    """`entities` plus every other place their values — and the `known` values found in the
    request's other texts — occur: a value the detector found once is PII wherever it stands,
    even where the surrounding characters kept the detector from seeing it (glued to a letter,
    to another value)."""
    taken = [(e.start, e.end) for e in entities]
    extra: list[Entity] = []
    values = {text[e.start:e.end]: e for e in entities} | dict(known or {})
    for value, e in values.items():
        if len(value) < MIN_REPEAT:
            continue
        at = text.find(value)
        while at >= 0:
            end = at + len(value)
            if not any(a < end and at < b for a, b in taken):
                extra.append(Entity(at, end, e.type, e.score))
                taken.append((at, end))
            at = text.find(value, at + 1)
    return entities + extra if extra else entities


def apply_all(texts: list[str], found: list[list[Entity]], actions: Mapping[str, str]) -> tuple[list[str], Vault]:
    """Apply `actions` to every text with ONE vault, so a placeholder names one value across the
    whole request (entities are detected per text: never across message boundaries)."""
    vault = Vault()
    acts = {t: Action(a) for t, a in actions.items()}
    known = {text[e.start:e.end]: e for text, ents in zip(texts, found, strict=True) for e in ents if e.type in acts}
    out = []
    for text, ents in zip(texts, found, strict=True):
        mine = _every_occurrence(text, [e for e in ents if e.type in acts], known)
        out.append(apply(text, mine, acts, vault=vault).text if mine else text)
    return out, vault


def redact_found(text: str, entities: Iterable[Entity]) -> str:
    """`text` with every one of `entities` replaced by `[TYPE]` for good (what leaves for a model
    that may not see any of it, such as a collection's PII for an external reranker)."""
    ents = list(entities)
    return apply(text, ents, {e.type: Action.REDACT for e in ents}).text if ents else text


def unmask(text: str, vault: Vault) -> str:
    """Restore the vault's placeholders in `text`; any other `<…_n>` is left as it is."""
    if not len(vault) or "<" not in text:
        return text
    return _PLACEHOLDER.sub(lambda m: vault.value(m.group()) or m.group(), text)


class StreamUnmasker:
    """Unmask a streamed reply chunk by chunk. A placeholder may be split anywhere
    ("…<KR_PH" + "ONE_1>…"), so the unmasker holds back the tail from the last "<" while it
    is still a prefix of one of the vault's placeholders, and emits everything else at once."""

    def __init__(self, vault: Vault) -> None:
        self._vault = vault
        self._pending = ""

    def feed(self, delta: str) -> str:
        text = self._pending + delta
        cut = self._hold_from(text)
        self._pending = text[cut:]
        return unmask(text[:cut], self._vault)

    def flush(self) -> str:
        """The held-back tail at the end of the stream (it never became a placeholder)."""
        text, self._pending = self._pending, ""
        return unmask(text, self._vault)

    def _hold_from(self, text: str) -> int:
        start = text.rfind("<")
        if start < 0 or not len(self._vault):
            return len(text)
        tail = text[start:]
        if any(p.startswith(tail) and p != tail for p in self._vault.placeholders()):
            return start
        return len(text)
