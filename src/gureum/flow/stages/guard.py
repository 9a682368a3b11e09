"""Guard: PII in, PII out.

In: every text of the call (`flow.text_slots`: messages, embedding inputs, a rerank's query and
documents) is scanned; each detected type gets the tenant's action for the call's destination.
The destination deployment is chosen only later (routing, fallbacks), so the guard applies the
*strictest* action over every region the policy lets this call go to: whichever candidate
finally answers, it never receives more than its region's policy allows. `block` refuses the
call (403 naming the types, never the values); `mask` replaces values by placeholders
(`<KR_PHONE_1>`) kept in a per-call vault; `redact` replaces them for good.

Out: the reply's model text is unmasked for the same caller and, when the policy redacts or
blocks some type, leak-checked (`flow.replies`, `governance.pii.leaks`).
"""

from __future__ import annotations

from gureum.errors import PolicyBlocked
from gureum.flow import policy as flow_policy
from gureum.flow.pipeline import finally_stream
from gureum.flow.replies import filter_body, filter_stream
from gureum.flow.text_slots import Slot, slots
from gureum.flow.types import Context, Next, Reply
from gureum.governance.pii import Vault, apply_all, detect
from gureum.governance.pii.leaks import Leaks
from gureum.governance.policy import Policy, TenantRules
from gureum.governance.settings import GovernanceSettings

AUDIT_TEXT_MAX = 32_000  # characters of masked prompt kept in one audit event


class Guard:
    def __init__(self, policy: Policy, settings: GovernanceSettings) -> None:
        self.policy = policy
        self.settings = settings

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        if not self.settings.pii_enabled or ctx.op.text == "none":
            return await next(ctx)
        rules = flow_policy.rules(ctx, self.policy)
        regions = flow_policy.regions(ctx, self.policy)
        possible = rules.possible_actions(regions)
        vault: Vault | None = None
        if possible != {"allow"} or rules.audit_masked_text:
            vault = self._guard_input(ctx, rules, regions)
        leaks = None
        if self.settings.leak_check and ctx.op.leak_check and possible & {"redact", "block"}:
            leaks = Leaks(lambda type_: rules.strictest(type_, regions))
        if not vault and leaks is None:
            return await next(ctx)
        reply = await next(ctx)
        if reply.body is not None:
            reply.body = filter_body(reply.body, vault, leaks)
            _note_leaks(ctx, leaks)
        if reply.stream is not None:
            reply.stream = finally_stream(filter_stream(reply.stream, vault, leaks), None,
                                          lambda err: _note_leaks(ctx, leaks))
        return reply

    def _guard_input(self, ctx: Context, rules: TenantRules, regions: set[str]) -> Vault | None:
        body, found_slots = slots(ctx.op.text, ctx.body)
        if not found_slots:
            return None
        texts = [s.text for s in found_slots]
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
            for slot, text in zip(found_slots, sent, strict=True):
                slot.put(text)
            ctx.body = body
        if rules.audit_masked_text:
            stored = sent
            if types and len(changing) != len(types):  # some type was allowed through: mask it for the log
                stored, _ = apply_all(texts, found, {t: "mask" for t in types})
            ctx.audit_detail["prompt"] = _audit_text(found_slots, stored)
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


def _note_leaks(ctx: Context, leaks: Leaks | None) -> None:
    if leaks is not None and leaks.seen:
        ctx.audit_detail["pii_redacted_in_reply"] = sorted(leaks.seen)


def _audit_text(found: list[Slot], texts: list[str]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    budget = AUDIT_TEXT_MAX
    for slot, text in zip(found, texts, strict=True):
        if budget <= 0:
            out.append({"role": slot.role, "text": "…"})
            break
        out.append({"role": slot.role, "text": text[:budget]})
        budget -= len(text)
    return out
