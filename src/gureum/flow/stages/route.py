"""Route: the plan of deployments the call may use (allow-list and residency, `flow.policy`),
ordered for it: cost-aware for `auto`-style virtual models, or just the cheapest deployment for the
platform's own sub-calls that ask for it (a context summary)."""

from __future__ import annotations

from gureum.flow import policy as flow_policy
from gureum.flow.types import Context, Next, Reply
from gureum.governance.policy import Policy
from gureum.routing.auto import AutoRoute, cheapest


class Route:
    def __init__(self, policy: Policy, auto: AutoRoute) -> None:
        self.policy = policy
        self.auto = auto

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        ctx.route["requested"] = ctx.model
        plan = flow_policy.permitted(ctx, self.policy)
        if ctx.op.cheapest:
            plan = cheapest(plan, ctx.route)
        else:
            plan = self.auto.order(plan, ctx.body, ctx.stream, ctx.budget_pressure, ctx.route)
        ctx.plan = plan
        ctx.candidates = list(plan.deployments())
        ctx.route["candidates"] = [d.id for d in ctx.candidates]
        return await next(ctx)
