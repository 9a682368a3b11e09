"""Route: resolve the requested model into an ordered plan of allowed deployments."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gureum.flow.types import Context, Endpoint, Next, Reply
from gureum.routing.catalog import Catalog, Plan

# A plan filter narrows candidates (residency, allow-lists, cost ranking) and explains itself
# in ctx.route; it raises a GureumError when nothing is left that it may allow.
PlanFilter = Callable[[Context, Plan], Plan]

_KIND = {Endpoint.CHAT: "chat", Endpoint.EMBEDDINGS: "embedding", Endpoint.ANSWER: "chat"}


class Route:
    def __init__(self, catalog: Catalog, filters: Sequence[PlanFilter] = ()) -> None:
        self.catalog = catalog
        self.filters = list(filters)

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        plan = self.catalog.plan(ctx.model, _KIND.get(ctx.endpoint, "chat"))
        ctx.route["requested"] = ctx.model
        for keep in self.filters:
            plan = keep(ctx, plan)
        ctx.candidates = list(plan.deployments())
        ctx.route["candidates"] = [d.id for d in ctx.candidates]
        ctx.extras["plan"] = plan
        return await next(ctx)
