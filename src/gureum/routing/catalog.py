"""The model catalog: deployments (a provider model with price, context, region, tier), the public
model names they serve, virtual models, and fallbacks — resolved into an ordered plan of groups.
A group is the deployments that serve one model name; the router load-balances inside a group
and falls back from group to group."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from gureum.config import DeploymentSettings, Settings, VirtualModelSettings
from gureum.errors import InvalidRequest, ModelNotFound
from gureum.providers.base import Provider, Usage
from gureum.routing.breaker import CircuitBreaker


@dataclass(eq=False)
class Deployment:
    settings: DeploymentSettings
    provider: Provider
    breaker: CircuitBreaker
    inflight: int = 0

    @property
    def id(self) -> str:
        return self.settings.deployment_id

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def model(self) -> str:
        return self.settings.model

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def tier(self) -> int:
        return self.settings.tier

    def cost(self, usage: Usage) -> float:
        p = self.settings.price
        cached_price = p.cached_input if p.cached_input is not None else p.input
        write_price = p.cache_write if p.cache_write is not None else p.input
        plain_input = max(0, usage.prompt_tokens - usage.cached_tokens - usage.cache_write_tokens)
        return (
            plain_input * p.input
            + usage.cached_tokens * cached_price
            + usage.cache_write_tokens * write_price
            + usage.completion_tokens * p.output
        ) / 1_000_000

    def worst_case_cost(self, input_tokens: int, max_output: int | None) -> float:
        out = max_output if max_output is not None else self.settings.max_output_tokens
        return (input_tokens * self.settings.price.input + out * self.settings.price.output) / 1_000_000


@dataclass
class Plan:
    """Candidate groups in fallback order, plus how the plan was made."""

    requested: str
    groups: list[list[Deployment]]
    virtual: VirtualModelSettings | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def deployments(self) -> Iterable[Deployment]:
        for g in self.groups:
            yield from g

    def accepting(self, kinds: set[str], route: dict[str, Any]) -> Plan:
        """The deployments that read every content part kind in `kinds`; refused when none does."""
        kept = self.filtered(lambda d: kinds <= set(d.settings.inputs))
        removed = sorted(d.id for d in self.deployments() if not kinds <= set(d.settings.inputs))
        if removed:
            route["cannot_read"] = {"kinds": sorted(kinds), "removed": removed}
        if not kept.groups:
            raise InvalidRequest(
                f"No deployment of '{self.requested}' reads {', '.join(sorted(kinds))} content parts "
                "(deployments[].inputs); send text only, or use a model that reads them.",
                param="messages", code="unsupported_content",
            )
        return kept

    def filtered(self, keep: Any) -> Plan:
        groups = [[d for d in g if keep(d)] for g in self.groups]
        return Plan(self.requested, [g for g in groups if g], self.virtual, dict(self.notes))


class Catalog:
    def __init__(self, settings: Settings, providers: dict[str, Provider]) -> None:
        r = settings.routing
        self.deployments: dict[str, Deployment] = {}
        self.by_name: dict[str, list[Deployment]] = {}
        for ds in settings.deployments:
            dep = Deployment(ds, providers[ds.provider], CircuitBreaker(r.breaker_failures, r.breaker_cooldown))
            self.deployments[dep.id] = dep
            self.by_name.setdefault(ds.name, []).append(dep)
        self.virtual = settings.virtual_models
        self.fallbacks = r.fallbacks

    def _group(self, ref: str) -> list[Deployment]:
        if ref in self.by_name:
            return list(self.by_name[ref])
        if ref in self.deployments:
            return [self.deployments[ref]]
        return []

    def knows(self, name: str) -> bool:
        """Whether `name` is a model name, a deployment id or a virtual model of the catalog."""
        return name in self.by_name or name in self.deployments or name in self.virtual

    def plan(self, model: str, kind: str = "chat") -> Plan:
        vm = self.virtual.get(model)
        refs = vm.candidates if vm else [model, *self.fallbacks.get(model, [])]
        seen: set[str] = set()
        groups: list[list[Deployment]] = []
        for ref in refs:
            group = [d for d in self._group(ref) if d.settings.kind == kind and d.id not in seen]
            seen.update(d.id for d in group)
            if group:
                groups.append(group)
        if not groups:
            raise ModelNotFound(
                f"The model '{model}' does not exist or does not serve {kind}; GET /v1/models lists what this "
                "gateway offers.",
                param="model",
            )
        return Plan(model, groups, vm)

    def public_models(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for name, deps in self.by_name.items():
            d0 = deps[0].settings
            out.append(
                {
                    "id": name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "gureum",
                    "gureum": {
                        "kind": d0.kind,
                        "deployments": [d.id for d in deps],
                        "regions": sorted({d.region for d in deps}),
                        "tier": d0.tier,
                        "context_window": d0.context_window,
                        "price_per_1m": d0.price.model_dump(exclude_none=True),
                        "dimensions": d0.dimensions,
                        "description": d0.description,
                    },
                }
            )
        for name, vm in self.virtual.items():
            out.append(
                {
                    "id": name,
                    "object": "model",
                    "created": 0,
                    "owned_by": "gureum",
                    "gureum": {
                        "kind": "virtual",
                        "strategy": vm.strategy,
                        "candidates": vm.candidates,
                        "description": vm.description,
                    },
                }
            )
        return out
