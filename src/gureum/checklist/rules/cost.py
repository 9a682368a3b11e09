"""Cost architecture: every virtual model is under a budget and routes with cost in mind; every
external deployment has a price; and the worst-case monthly spend under the declared limits and
prices is known — or shown to be unbounded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from gureum.checklist.declared import DEFAULTS, DeclaredPlatform
from gureum.checklist.model import Finding, Question, Severity, rule
from gureum.checklist.rules.gravity import LOCAL
from gureum.config import DeploymentSettings

MINUTES_PER_MONTH = 60 * 24 * 365 / 12  # 43,800: an average month
DAYS_PER_MONTH = 31  # a daily budget's worst month


def worst_request(d: DeploymentSettings) -> float:
    """The most one request can cost: a full context of input and the declared largest output."""
    out = d.max_output_tokens
    return (max(0, d.context_window - out) * d.price.input + out * d.price.output) / 1_000_000


def _priced(d: DeploymentSettings) -> bool:
    return d.price.input > 0 or d.price.output > 0


def _hard_tenant_budgets(p: DeclaredPlatform, t: str) -> list[float]:
    """Hard tenant-scope budgets as a monthly amount (a daily one times 31)."""
    return [b.limit * (1 if b.period == "month" else DAYS_PER_MONTH)
            for b in p.rules(t).budgets if b.scope == "tenant" and b.mode == "hard"]


@dataclass(frozen=True)
class WorstCase:
    tenant: str
    monthly: float | None  # None: unbounded
    bound: str
    priciest: DeploymentSettings | None


def worst_case(p: DeclaredPlatform, t: str) -> WorstCase:
    """The most a tenant can spend in a month under its tenant-wide rpm/tpm and hard budgets,
    at the price of the priciest deployment it can reach."""
    deps = {h.deployment.deployment_id: h.deployment for m in p.requestable(t) for h in p.reachable(t, m)}
    priced = [d for d in deps.values() if _priced(d)]
    if not priced:
        return WorstCase(t, 0.0, "no priced deployment reachable", None)
    priciest = max(priced, key=worst_request)
    r = p.rules(t)
    bounds: list[tuple[float, str]] = []
    if r.rpm:
        bounds.append((r.rpm * MINUTES_PER_MONTH * worst_request(priciest),
                       f"rpm {r.rpm} × {worst_request(priciest):.4f} per request ({priciest.deployment_id})"))
    if r.tpm:
        per_token = max(max(d.price.input, d.price.output) for d in priced) / 1_000_000
        bounds.append((r.tpm * MINUTES_PER_MONTH * per_token, f"tpm {r.tpm} × {per_token * 1e6:g} per 1M tokens"))
    bounds += [(limit, "hard tenant budget") for limit in _hard_tenant_budgets(p, t)]
    if not bounds:
        return WorstCase(t, None, "no tenant rpm/tpm and no hard tenant budget", priciest)
    value, why = min(bounds)
    return WorstCase(t, value, why, priciest)


@rule("CST001", Question.COST, Severity.WARNING, "A virtual model usable without any budget")
def virtual_without_budget(p: DeclaredPlatform) -> Iterator[Finding]:
    """Budgets are per tenant, user or key; a virtual model some tenant may use with none of them
    has no spending cap at all."""
    for name in p.settings.virtual_models:
        if not any(_priced(h.deployment) for h in p.plan(name)):
            continue
        open_ = [t for t in p.tenants() if p.may_request(t, name) and not p.rules(t).budgets]
        if open_:
            who = ", ".join("every tenant not listed" if t == DEFAULTS else t for t in open_)
            yield Finding(
                "CST001", f"Virtual model '{name}' may be used by {who} with no budget.",
                "Add `budgets: [{scope: tenant, period: month, limit: …}]` under `governance.defaults` (or each "
                "tenant), or keep the model off their `allowed_models`.",
                f"virtual_models.{name}", ("virtual_models", name),
            )


@rule("CST002", Question.COST, Severity.WARNING, "A virtual model's route ignores cost")
def not_cost_aware(p: DeclaredPlatform) -> Iterator[Finding]:
    """An `ordered` virtual model always tries its first candidate: when that one is pricier than a
    later candidate of the same or a higher tier, every request pays the difference."""
    for name, vm in p.settings.virtual_models.items():
        if vm.strategy == "cost":
            continue
        hops = p.plan(name)
        for i, first in enumerate(hops):
            cheaper = [h for h in hops[i + 1:] if h.deployment.tier >= first.deployment.tier
                       and worst_request(h.deployment) < worst_request(first.deployment)]
            if cheaper:
                c = cheaper[0].deployment
                yield Finding(
                    "CST002",
                    f"Virtual model '{name}' (ordered) tries {first.deployment.deployment_id} before the cheaper "
                    f"{c.deployment_id} of tier {c.tier} ≥ {first.deployment.tier}.",
                    "Use `strategy: cost`, or order the candidates cheapest first.",
                    f"virtual_models.{name}", ("virtual_models", name, "strategy")
                    if p.written(("virtual_models", name, "strategy")) else ("virtual_models", name),
                )
                break


@rule("CST003", Question.COST, Severity.WARNING, "An external deployment without a price")
def no_price(p: DeclaredPlatform) -> Iterator[Finding]:
    """Budgets reserve and settle on the catalog's prices: an external deployment priced at zero is
    never counted against any budget."""
    for i, d in enumerate(p.settings.deployments):
        if d.region != LOCAL and not _priced(d):
            yield Finding(
                "CST003", f"Deployment {d.deployment_id} ({d.region}) has no price: its calls cost 0 to every budget.",
                "Add `price: {input: …, output: …}` (per 1M tokens), or `region: local` if it runs on your own "
                "hardware.",
                f"deployments[{d.deployment_id}]", ("deployments", i),
            )


@rule("CST004", Question.COST, Severity.WARNING, "Spend with no upper bound")
def unbounded(p: DeclaredPlatform) -> Iterator[Finding]:
    """A tenant that reaches priced deployments with neither a tenant-wide rate limit nor a hard
    tenant budget can spend without limit (per-user and per-key caps multiply with keys)."""
    for t in p.tenants():
        w = worst_case(p, t)
        if w.monthly is None and w.priciest is not None:
            yield Finding(
                "CST004",
                f"{p.tenant_label(t).capitalize()} can reach priced deployments (up to "
                f"{worst_request(w.priciest):.4f} {p.settings.economy.currency} per request on "
                f"{w.priciest.deployment_id}) with no tenant rpm/tpm and no hard tenant budget: its monthly spend "
                "has no upper bound.",
                "Add a hard tenant budget (`budgets: [{scope: tenant, period: month, limit: …}]`) or `tpm:`.",
                p.tenant_where(t), p.tenant_path(t),
            )


@rule("CST005", Question.COST, Severity.INFO, "Worst-case monthly cost")
def worst_monthly(p: DeclaredPlatform) -> Iterator[Finding]:
    """The most each tenant can spend in a month under its declared limits and the catalog's
    prices: min(rpm × the priciest request, tpm × the highest token price, hard budgets)."""
    cur = p.settings.economy.currency
    for t in p.tenants():
        w = worst_case(p, t)
        if w.monthly is None or w.priciest is None:
            continue
        yield Finding(
            "CST005", f"{p.tenant_label(t).capitalize()}: worst case {w.monthly:,.2f} {cur} per month (bound: {w.bound}).",
            "Lower rpm/tpm or add a hard tenant budget if this is more than the tenant may spend.",
            p.tenant_where(t), p.tenant_path(t),
        )


@rule("CST006", Question.COST, Severity.WARNING, "Budgets open when Redis is down")
def fail_open(p: DeclaredPlatform) -> Iterator[Finding]:
    """`governance.fail_open: true` lets requests through unmetered while Redis is unreachable."""
    g = p.settings.governance
    if g.fail_open and p.settings.redis_url and any(p.rules(t).budgets for t in p.tenants()):
        yield Finding(
            "CST006", "Budgets are declared but `governance.fail_open: true` lets requests through unmetered while "
            "Redis is unreachable.",
            "Remove `fail_open: true` (refuse metered requests with 503 while Redis is down).",
            "governance.fail_open", ("governance", "fail_open"),
        )
