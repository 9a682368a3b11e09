"""Policies: who may use which model, and which data may go to which region.

`Policy.for_tenant` resolves a tenant's layered settings (global → `defaults` → the tenant) once
and caches it. `check_model` is the allow-list test on the model a call asks for; `permitted`
cuts a model's plan to the deployments the allow-list and the residency rules of the call's data
tags let it use, so the router only ever sees deployments the policy allows. Every refusal is a
`PolicyBlocked` whose message names the rule, which is what the audit event records. The policy
knows principals, models, plans and tags — never a request's flow context.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, TypeVar

from gureum.errors import PolicyBlocked
from gureum.governance.principal import Principal
from gureum.governance.settings import (
    STRICTNESS,
    BudgetSettings,
    GovernanceSettings,
    TenantPolicy,
)

if TYPE_CHECKING:
    from gureum.routing.catalog import Catalog, Plan

DATA_TAGS_HEADER = "x-gureum-data-tags"
FALLBACK_ACTION = "mask"  # for a type no rule names and no `*` covers


@dataclass(frozen=True)
class TenantRules:
    """One tenant's resolved policy."""

    tenant_id: str
    allowed_models: tuple[str, ...] | None = None
    group_models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    residency: frozenset[str] = frozenset()
    pii_default: dict[str, str] = field(default_factory=dict)
    pii_by_region: dict[str, dict[str, str]] = field(default_factory=dict)
    budgets: tuple[BudgetSettings, ...] = ()
    rpm: int | None = None
    tpm: int | None = None
    key_rpm: int | None = None
    key_tpm: int | None = None
    audit_masked_text: bool = False

    # --- PII -------------------------------------------------------------------------------
    def pii_action(self, type_: str, region: str) -> str:
        """Region's type, region's `*`, default's type, default's `*`, then mask."""
        reg = self.pii_by_region.get(region, {})
        return (
            reg.get(type_)
            or reg.get("*")
            or self.pii_default.get(type_)
            or self.pii_default.get("*")
            or FALLBACK_ACTION
        )

    def strictest(self, type_: str, regions: Iterable[str]) -> str:
        """The strictest action for `type_` over every region the request may go to."""
        return max((self.pii_action(type_, r) for r in regions), key=STRICTNESS.__getitem__, default=FALLBACK_ACTION)

    def possible_actions(self, regions: Iterable[str]) -> set[str]:
        """Every action some type could get in these regions (to skip work that cannot matter)."""
        out: set[str] = set()
        for region in regions:
            reg = self.pii_by_region.get(region, {})
            out.update(reg.values())
            if "*" not in reg:
                out.update(a for t, a in self.pii_default.items() if t not in reg)
                if "*" not in self.pii_default:
                    out.add(FALLBACK_ACTION)
        return out or {FALLBACK_ACTION}

    # --- models ----------------------------------------------------------------------------
    def model_patterns(self, groups: Iterable[str]) -> tuple[str, ...] | None:
        if self.allowed_models is None:
            return None
        extra = [m for g in groups for m in self.group_models.get(g, ())]
        return (*self.allowed_models, *extra)


T = TypeVar("T")


def _last(values: Iterable[T | None]) -> T | None:
    """The last layer's value that is set (a tenant's beats the defaults')."""
    found: T | None = None
    for v in values:
        if v is not None:
            found = v
    return found


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatchcase(name, p) for p in patterns)


class Policy:
    def __init__(self, settings: GovernanceSettings, catalog: Catalog | None = None) -> None:
        self.settings = settings
        self.catalog = catalog
        self._cache: dict[str, TenantRules] = {}

    # --- resolution ------------------------------------------------------------------------
    def for_tenant(self, tenant_id: str) -> TenantRules:
        rules = self._cache.get(tenant_id)
        if rules is None:
            rules = self._resolve(tenant_id, self.settings.tenants.get(tenant_id))
            self._cache[tenant_id] = rules
        return rules

    def set_tenant(self, tenant_id: str, policy: TenantPolicy | None) -> TenantRules:
        """Replace a tenant's overrides at run time (e.g. from the tenants table)."""
        rules = self._resolve(tenant_id, policy)
        self._cache[tenant_id] = rules
        return rules

    def _resolve(self, tenant_id: str, own: TenantPolicy | None) -> TenantRules:
        layers = [self.settings.defaults, *([own] if own is not None else [])]
        pii_default: dict[str, str] = dict(self.settings.pii.default)
        pii_by_region: dict[str, dict[str, str]] = {r: dict(m) for r, m in self.settings.pii.by_region.items()}
        for layer in layers:
            if layer.pii is None:
                continue
            pii_default.update(layer.pii.default)
            for region, actions in layer.pii.by_region.items():
                pii_by_region.setdefault(region, {}).update(actions)
        allowed = _last(layer.allowed_models for layer in layers)
        return TenantRules(
            tenant_id=tenant_id,
            allowed_models=tuple(allowed) if allowed is not None else None,
            group_models={g: tuple(ms) for g, ms in (_last(layer.group_models for layer in layers) or {}).items()},
            residency=frozenset(_last(layer.residency for layer in layers) or ()),
            pii_default=pii_default,
            pii_by_region=pii_by_region,
            budgets=tuple(_last(layer.budgets for layer in layers) or ()),
            rpm=_last(layer.rpm for layer in layers),
            tpm=_last(layer.tpm for layer in layers),
            key_rpm=_last(layer.key_rpm for layer in layers),
            key_tpm=_last(layer.key_tpm for layer in layers),
            audit_masked_text=bool(_last(layer.audit_masked_text for layer in layers)),
        )

    # --- data tags and residency -------------------------------------------------------------
    def data_tags(self, principal: Principal, tags: Iterable[str], header: str | None = None) -> set[str]:
        """A call's data tags: those its data carries, the tenant's residency tags, and the tags
        the caller declared in the `x-gureum-data-tags` header. The header can only add."""
        out = set(tags) | self.for_tenant(principal.tenant_id).residency
        if header:
            out.update(t.strip() for t in header.split(",") if t.strip())
        return out

    def allowed_regions(self, tags: Iterable[str]) -> tuple[set[str] | None, list[str]]:
        """The regions every ruled tag allows (None = unrestricted) and the rules that apply."""
        regions: set[str] | None = None
        applied: list[str] = []
        for tag in sorted(tags):
            rule = self.settings.residency_rules.get(tag)
            if rule is None:
                continue
            applied.append(tag)
            regions = set(rule) if regions is None else regions & set(rule)
        return regions, applied

    # --- the allow-list, asked ahead of a request (e.g. which models to list) -----------------
    def allows(self, principal: Principal, model: str) -> bool:
        """Whether the allow-list lets `principal` ask for `model`: the test `check` applies."""
        patterns = self.for_tenant(principal.tenant_id).model_patterns(principal.groups)
        return patterns is None or _matches(model, patterns)

    def allowed_plan(self, principal: Principal, plan: Plan) -> Plan:
        """`plan` cut to the deployments the allow-list lets `principal` use (the very `plan` when
        nothing is cut): the filter `allow_list` routes on. An allowed virtual model allows its own
        candidates; fallbacks of a plain model must be allowed themselves."""
        patterns = self.for_tenant(principal.tenant_id).model_patterns(principal.groups)
        if patterns is None or (plan.virtual is not None and _matches(plan.requested, patterns)):
            return plan
        return plan.filtered(lambda d: _matches(d.name, patterns) or _matches(d.id, patterns))

    def knows(self, model: str) -> bool:
        return self.catalog is not None and self.catalog.knows(model)

    def check_model(self, principal: Principal, model: str) -> None:
        """Refuse, naming the rule, a model the tenant's allow-list does not let `principal` ask for."""
        if self.allows(principal, model):
            return
        rules = self.for_tenant(principal.tenant_id)
        patterns = rules.model_patterns(principal.groups) or ()
        raise PolicyBlocked(
            f"Model '{model}' is not allowed for tenant '{rules.tenant_id}' by its model allow-list "
            f"(governance.tenants.{rules.tenant_id}.allowed_models / group_models); allowed: "
            f"{', '.join(patterns) or 'none'}.",
            param="model",
        )

    # --- plans -------------------------------------------------------------------------------
    def permitted(self, principal: Principal, model: str, kind: str, tags: set[str], route: dict[str, Any]) -> Plan:
        """The catalog's plan for `model` cut to what the allow-list and the residency rules of
        `tags` let `principal` use, noting in `route` what was cut; refused when nothing is left."""
        assert self.catalog is not None, "Policy needs the catalog to plan"
        plan = self.catalog.plan(model, kind)
        return self.keep_regions(self.keep_allowed(principal, plan, route), tags, route)

    def keep_allowed(self, principal: Principal, plan: Plan, route: dict[str, Any]) -> Plan:
        """`plan` cut to the deployments the allow-list lets `principal` use, noting in `route`
        what was cut."""
        kept = self.allowed_plan(principal, plan)
        if kept is plan:
            return plan
        removed = sorted({d.id for d in plan.deployments()} - {d.id for d in kept.deployments()})
        if removed:
            route.setdefault("policy", {})["not_allowed"] = removed
        if not kept.groups:
            tenant = principal.tenant_id
            raise PolicyBlocked(
                f"No deployment of '{plan.requested}' is allowed for tenant '{tenant}' by its model "
                f"allow-list (governance.tenants.{tenant}.allowed_models).",
                param="model",
            )
        return kept

    def keep_regions(self, plan: Plan, tags: set[str], route: dict[str, Any]) -> Plan:
        """`plan` cut to deployments whose region every residency rule of `tags` allows, noting
        in `route` what was cut."""
        regions, applied = self.allowed_regions(tags)
        if regions is None:
            return plan
        kept = plan.filtered(lambda d: d.region in regions)
        removed = sorted(f"{d.id} ({d.region})" for d in plan.deployments() if d.region not in regions)
        if removed:
            route.setdefault("policy", {})["residency"] = {"rules": applied, "removed": removed}
        if not kept.groups:
            rules = "; ".join(
                f"'{t}' allows {', '.join(self.settings.residency_rules[t])}" for t in applied
            )
            where = ", ".join(f"{d.id} in {d.region}" for d in plan.deployments())
            raise PolicyBlocked(
                f"Blocked by data residency: rule {rules} (data tags: {', '.join(sorted(tags))}); no deployment of "
                f"'{plan.requested}' is in an allowed region ({where}).",
                code="residency_blocked",
            )
        return kept


__all__ = ["DATA_TAGS_HEADER", "Policy", "TenantRules"]
