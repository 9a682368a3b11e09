"""Rate limits: requests and tokens per minute, per API key and per tenant, reported the way
OpenAI does (`x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, `retry-after` on a 429).

Tokens are counted at admission as the estimated input plus `max_tokens` when the request sets
one, then corrected to the real total when the call settles.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from gureum.governance.counters import RateSpec, RateState
from gureum.governance.policy import TenantRules
from gureum.governance.principal import Principal

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Limit:
    """One rate limit as it applies to one request."""

    unit: str  # "requests" or "tokens"
    scope: str  # "key" or "tenant"
    subject: str
    spec: RateSpec

    @property
    def name(self) -> str:
        return f"{self.unit} per minute of {self.scope} '{self.subject}' ({self.spec.limit}/min)"


def applicable(rules: TenantRules, p: Principal, tokens: int, prefix: str) -> list[Limit]:
    out: list[Limit] = []
    table = (
        ("requests", "key", p.key_id, rules.key_rpm, 1),
        ("requests", "tenant", p.tenant_id, rules.rpm, 1),
        ("tokens", "key", p.key_id, rules.key_tpm, tokens),
        ("tokens", "tenant", p.tenant_id, rules.tpm, tokens),
    )
    for unit, scope, subj, limit, cost in table:
        if limit:
            key = f"{prefix}:{{t:{p.tenant_id}}}:r:{scope}:{subj}:{unit}"
            out.append(Limit(unit, scope, subj, RateSpec(key, int(limit), MINUTE_MS, int(cost))))
    return out


def duration(ms: int) -> str:
    """OpenAI's reset format: 20ms, 1s, 6m0s, 1h2m3s."""
    if ms < 1000:
        return f"{max(ms, 0)}ms"
    total = ms / 1000.0
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    sec = f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"
    if hours:
        return f"{int(hours)}h{int(minutes)}m{sec}"
    if minutes:
        return f"{int(minutes)}m{sec}"
    return sec


def headers(limits: list[Limit], states: list[RateState]) -> dict[str, str]:
    """For each unit, the binding limit (least remaining) in OpenAI's header names."""
    out: dict[str, str] = {}
    for unit in ("requests", "tokens"):
        pairs = [(lim, st) for lim, st in zip(limits, states, strict=True) if lim.unit == unit]
        if not pairs:
            continue
        lim, st = min(pairs, key=lambda ls: (ls[1].remaining, -ls[1].reset_ms))
        out[f"x-ratelimit-limit-{unit}"] = str(lim.spec.limit)
        out[f"x-ratelimit-remaining-{unit}"] = str(max(0, st.remaining))
        out[f"x-ratelimit-reset-{unit}"] = duration(st.reset_ms)
    return out


def retry_after(ms: int) -> str:
    return str(max(1, math.ceil(ms / 1000)))


__all__ = ["MINUTE_MS", "Limit", "applicable", "duration", "headers", "retry_after"]
