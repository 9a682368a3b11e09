"""Guard: PII in, PII out.

In: the text of every message (any role, string content, text content parts, tool-call
arguments) or embedding input is scanned; each detected type gets the tenant's action for the
request's destination. The destination deployment is chosen only later (routing, fallbacks), so
the guard applies the *strictest* action over every region the policy lets this request go to:
whichever candidate finally answers, it never receives more than its region's policy allows.
`block` refuses the request (403 naming the types, never the values); `mask` replaces values by
placeholders (`<KR_PHONE_1>`) kept in a per-request vault; `redact` replaces them for good.

Out: the reply is unmasked for the same caller (content and tool-call arguments, also in streams,
where a placeholder split across chunks is held back until it is whole) and, when the policy
redacts or blocks some type, leak-checked: such PII in the reply (which the caller cannot have
sent) is redacted. Replies are copied, never edited in place, so a cached reply keeps its
placeholders.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from gureum.errors import PolicyBlocked
from gureum.flow.types import Context, Endpoint, Next, Reply
from gureum.governance.pii import (
    Action,
    Entity,
    StreamUnmasker,
    Vault,
    apply,
    detect,
    unmask,
)
from gureum.governance.policy import Policy, TenantRules
from gureum.governance.settings import GovernanceSettings

AUDIT_TEXT_MAX = 32_000  # characters of masked prompt kept in one audit event
LEAK_HOLD = 64  # characters a leak-checked stream holds back (longer than any PII value)
LEAK_CONTEXT = 32  # released characters kept as context for the detector's cue words

Setter = Callable[[str], None]


def _setter(obj: dict[str, Any], key: str) -> Setter:
    def put(value: str) -> None:
        obj[key] = value

    return put


def _item_setter(items: list[Any], index: int) -> Setter:
    def put(value: str) -> None:
        items[index] = value

    return put


# --- collecting the text of a request ----------------------------------------------------------


def _chat_slots(body: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, Setter]]]:
    """A copy of `body` whose text can be replaced, and its text slots (role, text, setter)."""
    out = dict(body)
    messages: list[Any] = []
    slots: list[tuple[str, str, Setter]] = []
    for raw in body.get("messages") or ():
        if not isinstance(raw, dict):
            messages.append(raw)
            continue
        m = dict(raw)
        role = str(m.get("role", ""))
        content = m.get("content")
        if isinstance(content, str) and content:
            slots.append((role, content, _setter(m, "content")))
        elif isinstance(content, list):
            parts = [dict(p) if isinstance(p, dict) else p for p in content]
            m["content"] = parts
            for part in parts:
                if isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
                    slots.append((role, part["text"], _setter(part, "text")))
        if isinstance(m.get("tool_calls"), list):
            calls = []
            for call in m["tool_calls"]:
                fn = call.get("function") if isinstance(call, dict) else None
                if isinstance(fn, dict) and isinstance(fn.get("arguments"), str) and fn["arguments"]:
                    call = {**call, "function": dict(fn)}
                    slots.append((role, fn["arguments"], _setter(call["function"], "arguments")))
                calls.append(call)
            m["tool_calls"] = calls
        messages.append(m)
    out["messages"] = messages
    return out, slots


def _embedding_slots(body: dict[str, Any]) -> tuple[dict[str, Any], list[tuple[str, str, Setter]]]:
    out = dict(body)
    raw = body.get("input")
    if isinstance(raw, str):
        return out, [("input", raw, _setter(out, "input"))]
    if not isinstance(raw, list):
        return out, []
    items = list(raw)
    out["input"] = items
    slots: list[tuple[str, str, Setter]] = []
    for i, t in enumerate(items):
        if isinstance(t, str) and t:
            slots.append(("input", t, _item_setter(items, i)))
    return out, slots


# --- masking several texts with one vault -------------------------------------------------------


def apply_all(
    texts: list[str], found: list[list[Entity]], actions: dict[str, str]
) -> tuple[list[str], Vault]:
    """Apply `actions` to every text with ONE vault, so a placeholder names one value across the
    whole conversation (entities are detected per text: never across message boundaries)."""
    vault = Vault()
    acts = {t: Action(a) for t, a in actions.items()}
    out = []
    for text, ents in zip(texts, found, strict=True):
        mine = [e for e in ents if e.type in acts]
        out.append(apply(text, mine, acts, vault=vault).text if mine else text)
    return out, vault


# --- reply filters ----------------------------------------------------------------------------


class _Leaks:
    """Redacts PII of the types the request's policy redacts or blocks."""

    def __init__(self, rules: TenantRules, regions: set[str], seen: set[str]) -> None:
        self.rules = rules
        self.regions = regions
        self.seen = seen  # types redacted, for the audit event

    def forbidden(self, ents: list[Entity]) -> list[Entity]:
        return [e for e in ents if self.rules.strictest(e.type, self.regions) in ("redact", "block")]

    def redact(self, text: str, ents: list[Entity]) -> str:
        if not ents:
            return text
        self.seen.update(e.type for e in ents)
        return apply(text, ents, {e.type: Action("redact") for e in ents}).text

    def __call__(self, text: str) -> str:
        return self.redact(text, self.forbidden(detect(text))) if text else text


class _StreamLeaks:
    """Leak-checks a stream while relaying it: holds back the last LEAK_HOLD characters (never
    cutting inside a detected entity) so a value split across chunks is seen whole."""

    def __init__(self, leaks: _Leaks) -> None:
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


class _Text:
    """One streamed text field: unmask, then (optionally) leak-check."""

    def __init__(self, vault: Vault | None, leaks: _Leaks | None) -> None:
        self.unmasker = StreamUnmasker(vault) if vault else None
        self.leaks = _StreamLeaks(leaks) if leaks else None

    def feed(self, text: str) -> str:
        if self.unmasker is not None:
            text = self.unmasker.feed(text)
        return self.leaks.feed(text) if self.leaks is not None and text else text

    def flush(self) -> str:
        text = self.unmasker.flush() if self.unmasker is not None else ""
        if self.leaks is None:
            return text
        return self.leaks.feed(text) + self.leaks.flush() if text else self.leaks.flush()


# --- the stage ----------------------------------------------------------------------------------


class Guard:
    def __init__(self, policy: Policy, settings: GovernanceSettings) -> None:
        self.policy = policy
        self.settings = settings

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        if not self.settings.pii_enabled or ctx.endpoint not in (Endpoint.CHAT, Endpoint.EMBEDDINGS, Endpoint.ANSWER):
            return await next(ctx)
        rules = self.policy.rules(ctx)
        regions = self.policy.regions(ctx)
        possible = rules.possible_actions(regions)
        vault: Vault | None = None
        if possible != {"allow"} or rules.audit_masked_text:
            vault = self._guard_input(ctx, rules, regions)
        leaks = None
        if self.settings.leak_check and possible & {"redact", "block"} and ctx.endpoint is not Endpoint.EMBEDDINGS:
            leaks = _Leaks(rules, regions, set())
        if not vault and leaks is None:
            return await next(ctx)
        reply = await next(ctx)
        if reply.body is not None:
            reply.body = self._guard_body(reply.body, vault, leaks)
            _note_leaks(ctx, leaks)
        if reply.stream is not None:
            reply.stream = self._guard_stream(ctx, reply.stream, vault, leaks)
        return reply

    # --- input ---------------------------------------------------------------------------------
    def _guard_input(self, ctx: Context, rules: TenantRules, regions: set[str]) -> Vault | None:
        if ctx.endpoint is Endpoint.EMBEDDINGS:
            body, slots = _embedding_slots(ctx.body)
        else:
            body, slots = _chat_slots(ctx.body)
        if not slots:
            return None
        texts = [t for _, t, _ in slots]
        found = [detect(t) for t in texts]
        types = {e.type for ents in found for e in ents}
        ctx.pii_types.update(types)
        actions = {t: rules.strictest(t, regions) for t in types}
        blocked = sorted(t for t, a in actions.items() if a == "block")
        if blocked:
            raise PolicyBlocked(self._block_message(rules, blocked, regions), code="pii_blocked", param="messages")
        changing = {t: a for t, a in actions.items() if a != "allow"}
        vault: Vault | None = None
        sent = texts
        if changing:
            sent, vault = apply_all(texts, found, changing)
            for (_, _, setter), text in zip(slots, sent, strict=True):
                setter(text)
            ctx.body = body
        if rules.audit_masked_text:
            stored = sent
            if types and len(changing) != len(types):  # some type was allowed through: mask it for the log
                stored, _ = apply_all(texts, found, {t: "mask" for t in types})
            ctx.audit_detail["prompt"] = _audit_text([r for r, _, _ in slots], stored)
        return vault if vault else None

    @staticmethod
    def _block_message(rules: TenantRules, blocked: list[str], regions: set[str]) -> str:
        where = "; ".join(
            f"{t} → block in region {', '.join(sorted(r for r in regions if rules.pii_action(t, r) == 'block'))}"
            for t in blocked
        )
        return (
            f"Blocked by PII policy of tenant '{rules.tenant_id}': the request contains {', '.join(blocked)}, which "
            f"may not be sent to the model's region ({where}). Remove it, or use a model in a region that allows it."
        )

    # --- output --------------------------------------------------------------------------------
    @staticmethod
    def _guard_body(body: dict[str, Any], vault: Vault | None, leaks: _Leaks | None) -> dict[str, Any]:
        choices = body.get("choices")
        if not isinstance(choices, list):
            return body
        out = []
        for ch in choices:
            msg = ch.get("message") if isinstance(ch, dict) else None
            if not isinstance(msg, dict):
                out.append(ch)
                continue
            msg = dict(msg)
            if isinstance(msg.get("content"), str):
                text = unmask(msg["content"], vault) if vault else msg["content"]
                msg["content"] = leaks(text) if leaks is not None else text
            if vault and isinstance(msg.get("tool_calls"), list):
                msg["tool_calls"] = [_unmask_call(c, vault) for c in msg["tool_calls"]]
            out.append({**ch, "message": msg})
        return {**body, "choices": out}

    async def _guard_stream(
        self, ctx: Context, stream: AsyncIterator[dict[str, Any]], vault: Vault | None, leaks: _Leaks | None
    ) -> AsyncIterator[dict[str, Any]]:
        texts: dict[tuple[Any, ...], _Text] = {}
        last: dict[str, Any] | None = None

        def field(key: tuple[Any, ...], with_leaks: bool) -> _Text:
            t = texts.get(key)
            if t is None:
                t = texts[key] = _Text(vault, leaks if with_leaks else None)
            return t

        def flush_choice(idx: Any, delta: dict[str, Any]) -> dict[str, Any]:
            for key in [k for k in texts if k[0] == idx]:
                rest = texts.pop(key).flush()
                if not rest:
                    continue
                if key[1] == "content":
                    delta = {**delta, "content": (delta.get("content") or "") + rest}
                else:
                    calls = list(delta.get("tool_calls") or [])
                    calls.append({"index": key[2], "function": {"arguments": rest}})
                    delta = {**delta, "tool_calls": calls}
            return delta

        async for chunk in stream:
            last = chunk
            choices = chunk.get("choices")
            if not choices:
                yield chunk
                continue
            new_choices = []
            for ch in choices:
                idx = ch.get("index", 0)
                delta = dict(ch.get("delta") or {})
                if isinstance(delta.get("content"), str) and delta["content"]:
                    delta["content"] = field((idx, "content"), True).feed(delta["content"])
                if vault and isinstance(delta.get("tool_calls"), list):
                    calls = []
                    for call in delta["tool_calls"]:
                        fn = call.get("function") or {}
                        if isinstance(fn.get("arguments"), str) and fn["arguments"]:
                            text = field((idx, "tool", call.get("index", 0)), False).feed(fn["arguments"])
                            call = {**call, "function": {**fn, "arguments": text}}
                        calls.append(call)
                    delta["tool_calls"] = calls
                if ch.get("finish_reason") is not None:
                    delta = flush_choice(idx, delta)
                new_choices.append({**ch, "delta": delta})
            yield {**chunk, "choices": new_choices}
        # A stream that ended without finish_reason: release what is held back.
        for idx in sorted({k[0] for k in texts}, key=str):
            delta = flush_choice(idx, {})
            if delta and last is not None:
                yield {**{k: v for k, v in last.items() if k != "usage"},
                       "choices": [{"index": idx, "delta": delta, "finish_reason": None}]}
        _note_leaks(ctx, leaks)


def _note_leaks(ctx: Context, leaks: _Leaks | None) -> None:
    if leaks is not None and leaks.seen:
        ctx.audit_detail["pii_redacted_in_reply"] = sorted(leaks.seen)


def _unmask_call(call: Any, vault: Vault) -> Any:
    fn = call.get("function") if isinstance(call, dict) else None
    if not isinstance(fn, dict) or not isinstance(fn.get("arguments"), str):
        return call
    return {**call, "function": {**fn, "arguments": unmask(fn["arguments"], vault)}}


def _audit_text(roles: list[str], texts: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    budget = AUDIT_TEXT_MAX
    for role, text in zip(roles, texts, strict=True):
        if budget <= 0:
            out.append({"role": role, "text": "…"})
            break
        out.append({"role": role, "text": text[:budget]})
        budget -= len(text)
    return out
