"""Token-economy settings: the `economy:` section of gureum.yaml — cost-aware routing of `auto`
(virtual models with strategy `cost`), context budgets, and the difficulty model."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class PressureRule(BaseModel):
    model_config = ConfigDict(extra="forbid")
    at: float = Field(ge=0.0, le=1.0, description="Budget pressure (0..1, from the budget stage) at which this applies.")
    drop: int = Field(ge=0, le=4, description="Tiers the required tier is lowered by (never below 1).")


class AutoRouteSettings(BaseModel):
    """How a `cost` virtual model picks its deployment. Per-model entries overlay the defaults."""

    model_config = ConfigDict(extra="forbid")
    expected_output_tokens: int = Field(
        default=400, ge=1, description="Output tokens assumed for cost estimates when the request sets no max_tokens."
    )
    min_tier: int = Field(default=1, ge=1, le=5, description="Never route below this tier.")
    max_p50_ms: float | None = Field(
        default=None,
        description="Latency objective: skip deployments whose observed median latency exceeds this (when others "
        "qualify). Full responses and time-to-first-chunk of streams are tracked separately.",
    )
    budget_pressure: list[PressureRule] = Field(
        default_factory=lambda: [PressureRule(at=0.8, drop=1), PressureRule(at=1.0, drop=2)],
        description="As budget pressure rises, lower the required tier: the largest `drop` whose `at` is reached.",
    )


class ContextBudget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    max_input_tokens: int = Field(ge=64, description="Most input tokens (gureum.tokens estimate) sent to the model.")
    keep_recent_turns: int = Field(
        default=4, ge=1, description="Most recent user turns (with their replies) always kept verbatim."
    )
    summarize: bool = Field(
        default=True,
        description="Summarise older turns with the cheapest allowed chat deployment; off (or on failure): keep the "
        "first sentence of each older message (extractive).",
    )
    summary_max_tokens: int = Field(default=400, ge=32, description="Longest summary requested.")
    summary_timeout: float = Field(default=20.0, description="Seconds the summariser may take before the fallback.")


class ContextBudgets(BaseModel):
    model_config = ConfigDict(extra="forbid")
    models: dict[str, ContextBudget] = Field(
        default_factory=dict, description="Requested model or virtual model name → budget."
    )
    tenants: dict[str, ContextBudget] = Field(
        default_factory=dict, description="Tenant → budget (the tighter of the tenant's and the model's applies)."
    )


class EconomySettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    auto: AutoRouteSettings = Field(
        default_factory=AutoRouteSettings, description="Defaults for every virtual model with strategy `cost`."
    )
    virtual_models: dict[str, AutoRouteSettings] = Field(
        default_factory=dict, description="Per virtual model overrides of `auto` (only the fields given)."
    )
    difficulty_model: Path | None = Field(
        default=None,
        description="JSON weights from `gureum route train`; unset = the transparent heuristic estimator.",
    )
    latency_window: int = Field(default=200, ge=10, description="Recent calls per deployment the latency median uses.")
    latency_min_samples: int = Field(
        default=10, ge=1, description="Calls observed before a deployment's median latency is trusted."
    )
    context_budget: ContextBudgets = Field(
        default_factory=ContextBudgets, description="Maximum input tokens per model or tenant; longer chats are compacted."
    )
    currency: str = Field(default="USD", description="Currency label of catalog prices in reports.")

    def for_virtual(self, name: str) -> AutoRouteSettings:
        override = self.virtual_models.get(name)
        if override is None:
            return self.auto
        return AutoRouteSettings.model_validate({**self.auto.model_dump(), **override.model_dump(exclude_unset=True)})

    def budget_for(self, model: str, tenant_id: str | None) -> ContextBudget | None:
        by_model = self.context_budget.models.get(model)
        by_tenant = self.context_budget.tenants.get(tenant_id) if tenant_id else None
        if by_model is None or by_tenant is None:
            return by_tenant or by_model
        tighter = min(by_model.max_input_tokens, by_tenant.max_input_tokens)
        return by_tenant.model_copy(update={"max_input_tokens": tighter})
