"""The `governance:` section of gureum.yaml: PII actions, model allow-lists, data residency,
budgets, rate limits and what the audit log stores.

Tenant policies are layered: `governance.defaults` applies to every tenant, an entry under
`governance.tenants` overrides it field by field (a field left out inherits), and the PII
actions of a tenant overlay the global `governance.pii` type by type.

```yaml
governance:
  pii:
    default: {"*": mask, KR_RRN: block, CREDIT_CARD: redact}
    by_region: {local: {"*": allow}}
  residency_rules: {kr-only: [kr, local], eu-only: [eu, local]}
  defaults: {rpm: 600, key_rpm: 120}
  tenants:
    acme:
      allowed_models: [fast, auto]
      group_models: {ml-team: [smart, "gpt-4o*"]}
      residency: [kr-only]
      budgets: [{scope: tenant, period: month, limit: 500}, {scope: user, period: day, limit: 5, mode: soft}]
      audit_masked_text: true
```
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PiiAction = Literal["mask", "redact", "block", "allow"]

# Strictness order used when one request may go to several regions: the strictest wins.
STRICTNESS: dict[str, int] = {"allow": 0, "mask": 1, "redact": 2, "block": 3}


class PiiSettings(BaseModel):
    """What happens to each PII type on its way to a model. Keys are entity types (`EMAIL`,
    `KR_PHONE`, `KR_RRN`, …) or `*` for every type not listed."""

    model_config = ConfigDict(extra="forbid")
    default: dict[str, PiiAction] = Field(
        default_factory=dict,
        description="Action per PII type for every destination: mask (reversible placeholder such as <KR_PHONE_1>, "
        "restored in the reply to the same caller), redact (replaced for good), block (the request is refused with "
        "a 403 naming the type), allow (sent as is). `*` is every type not listed.",
    )
    by_region: dict[str, dict[str, PiiAction]] = Field(
        default_factory=dict,
        description="Per destination region (a deployment's `region`), actions that override `default`; a region's "
        "`*` overrides the default's specific types too (e.g. `local: {'*': allow}`).",
    )


class BudgetSettings(BaseModel):
    """A spending cap in the catalog's currency over one calendar period."""

    model_config = ConfigDict(extra="forbid")
    scope: Literal["tenant", "user", "key"] = Field(
        description="Whose spending is capped: the whole tenant, each user (keys without a user are not counted "
        "here), or each API key."
    )
    period: Literal["day", "month"] = Field(description="Calendar period in `governance.timezone`.")
    limit: float = Field(ge=0, description="Currency units per period.")
    mode: Literal["hard", "soft"] = Field(
        default="hard",
        description="hard: a request whose worst-case cost does not fit is refused (429 budget_exceeded). soft: it "
        "goes through, a warning is logged and the reply carries `x-gureum-budget-warning`.",
    )


class TenantPolicy(BaseModel):
    """One tenant's policy (or, under `defaults`, every tenant's). Unset fields inherit."""

    model_config = ConfigDict(extra="forbid")
    allowed_models: list[str] | None = Field(
        default=None,
        description="Model names, virtual model names or deployment ids this tenant may use (shell-style `*` "
        "patterns allowed). Unset = every model; an allowed virtual model allows its candidates for that request.",
    )
    group_models: dict[str, list[str]] | None = Field(
        default=None,
        description="Group → extra models its members may use on top of `allowed_models`.",
    )
    residency: list[str] | None = Field(
        default=None,
        description="Data tags every request of this tenant carries (e.g. [kr-only]); see `residency_rules`.",
    )
    pii: PiiSettings | None = Field(
        default=None, description="PII actions overlaying the global `governance.pii`, type by type and region by region."
    )
    budgets: list[BudgetSettings] | None = Field(
        default=None, description="Budgets (a tenant's list replaces the defaults' list)."
    )
    rpm: int | None = Field(default=None, ge=1, description="Requests per minute for the whole tenant.")
    tpm: int | None = Field(default=None, ge=1, description="Tokens per minute for the whole tenant (input + output).")
    key_rpm: int | None = Field(default=None, ge=1, description="Requests per minute for each API key.")
    key_tpm: int | None = Field(default=None, ge=1, description="Tokens per minute for each API key.")
    audit_masked_text: bool | None = Field(
        default=None,
        description="Store the prompt text in the audit event, with every detected PII value replaced by a "
        "placeholder (whatever the destination's PII actions). Off by default: prompts are not stored.",
    )


def _builtin_pii() -> PiiSettings:
    return PiiSettings(default={"*": "mask"}, by_region={"local": {"*": "allow"}})


class GovernanceSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pii: PiiSettings = Field(
        default_factory=_builtin_pii,
        description="Global PII actions. Built-in: mask every type, allow everything for region `local` (data that "
        "never leaves the machine).",
    )
    pii_enabled: bool = Field(default=True, description="Scan request text for PII at all.")
    leak_check: bool = Field(
        default=True,
        description="Scan replies for PII of types the request's policy redacts or blocks and redact them (also in "
        "streams, holding back a short tail). Costs nothing when no type is redacted or blocked.",
    )
    residency_rules: dict[str, list[str]] = Field(
        default_factory=lambda: {"kr-only": ["kr", "local"], "eu-only": ["eu", "local"]},
        description="Data tag → the only regions data with that tag may go to. Tags without a rule are labels and do "
        "not restrict routing.",
    )
    defaults: TenantPolicy = Field(default_factory=TenantPolicy, description="Policy for every tenant.")
    tenants: dict[str, TenantPolicy] = Field(default_factory=dict, description="Tenant id → overrides of `defaults`.")
    audit_anonymous_per_minute: int = Field(
        default=120, ge=0,
        description="Refused requests without a valid key that one process records in the audit chain per minute, "
        "each as its own event; beyond it they are counted, and the count is recorded as one "
        "`api.refused_anonymous` event, so a flood of anonymous garbage cannot flood the chain.",
    )
    timezone: str = Field(default="UTC", description="IANA time zone day/month budget periods follow (e.g. Asia/Seoul).")
    redis_prefix: str = Field(default="gureum", description="Prefix of every limit/budget key in Redis.")
    fail_open: bool = Field(
        default=False,
        description="When Redis is unreachable: false refuses requests that have limits or budgets (503), true lets "
        "them through unmetered and logs it.",
    )

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as UTC or Asia/Seoul)") from None
        return value


__all__ = ["STRICTNESS", "BudgetSettings", "GovernanceSettings", "PiiAction", "PiiSettings", "TenantPolicy"]
