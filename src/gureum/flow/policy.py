"""The flow's questions to the governance policy about one call, each answered once per call
and kept on its context: its tenant's rules, its data tags, and the plan of deployments it is
permitted (which the guard reads for the regions it may reach, limits for the worst-case cost,
and route orders into the plan it calls)."""

from __future__ import annotations

from gureum.flow.text_slots import content_kinds
from gureum.flow.types import Context
from gureum.governance.policy import DATA_TAGS_HEADER, Policy, TenantRules
from gureum.routing.catalog import Plan


def rules(ctx: Context, policy: Policy) -> TenantRules:
    assert ctx.principal is not None, "identify runs before governance"
    return policy.for_tenant(ctx.principal.tenant_id)


def tags(ctx: Context, policy: Policy) -> set[str]:
    """The call's data tags, the tenant's and the header's merged in (idempotent: stages that add
    tags of the data they put into the call — retrieval — may ask again)."""
    assert ctx.principal is not None, "identify runs before governance"
    ctx.data_tags |= policy.data_tags(ctx.principal, ctx.data_tags, ctx.headers.get(DATA_TAGS_HEADER))
    return ctx.data_tags


def permitted(ctx: Context, policy: Policy) -> Plan:
    """The deployments the call may use: those governance permits that also read every kind of
    content the call carries (an image part is refused, never dropped)."""
    if ctx.permitted is None:
        assert ctx.principal is not None, "identify runs before governance"
        plan = policy.permitted(ctx.principal, ctx.model, ctx.op.catalog_kind, tags(ctx, policy), ctx.route)
        kinds = content_kinds(ctx.op.text, ctx.body)
        ctx.permitted = plan.accepting(kinds, ctx.route) if kinds != {"text"} else plan
    return ctx.permitted


def region_allowed(ctx: Context, policy: Policy, region: str) -> bool:
    """Whether the residency rules of the call's data tags allow its data in `region`."""
    regions, _ = policy.allowed_regions(tags(ctx, policy))
    return regions is None or region in regions


def regions(ctx: Context, policy: Policy) -> set[str]:
    return {d.region for d in permitted(ctx, policy).deployments()}


__all__ = ["permitted", "region_allowed", "regions", "rules", "tags"]
