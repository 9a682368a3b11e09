"""The `check:` section of gureum.yaml: what `gureum check` may ignore (with a reason and an
expiry), where the platform's own stores live, and the key-expiry policy it enforces.

```yaml
check:
  regions: {database: kr, redis: kr}
  key_max_days: 90
  suppress:
    - {rule: CST003, where: "deployments[qwen-local*]", reason: "self-hosted GPU, billed by the hour", expires: 2027-03-31}
```
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class Suppression(BaseModel):
    """One finding (or family of findings) `gureum check` reports as suppressed instead of failing."""

    model_config = ConfigDict(extra="forbid")
    rule: str = Field(pattern=r"^[A-Z]{3}[0-9]{3}$", description="Rule id, e.g. GRV001 (`gureum check --rules` lists them).")
    where: str | None = Field(
        default=None,
        description="Shell-style pattern on the finding's `where` (as printed, e.g. `tenants.acme` or "
        "`virtual_models.smart*`); unset = every finding of the rule.",
    )
    reason: str = Field(min_length=3, description="Why this is acceptable; printed with the suppressed finding.")
    expires: date = Field(description="Last day the suppression holds; after it the finding counts again and a warning says so.")


class StoreRegions(BaseModel):
    """Where the shared stores physically are, in the region tags deployments use (data gravity)."""

    model_config = ConfigDict(extra="forbid")
    database: str | None = Field(
        default=None,
        description="Region of `database_url`'s PostgreSQL (documents, chunks, ledger, audit, semantic cache). "
        "Unset: `local` for the embedded server, unknown for an external one.",
    )
    redis: str | None = Field(
        default=None, description="Region of `redis_url`'s Redis (exact cache entries, counters). Unset: unknown."
    )


class CheckSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    suppress: list[Suppression] = Field(default_factory=list, description="Accepted findings, each with a reason and an expiry.")
    regions: StoreRegions = Field(default_factory=StoreRegions, description="Where the shared stores live.")
    key_max_days: int | None = Field(
        default=None,
        ge=1,
        description="Keys must expire within this many days of creation (checked against the running platform's keys "
        "with `gureum check --live`); unset = no expiry policy.",
    )


__all__ = ["CheckSettings", "StoreRegions", "Suppression"]
