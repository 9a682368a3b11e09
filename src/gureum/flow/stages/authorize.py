"""Authorize: may this principal make this call? Roles first (an auditor reads audit and nothing
else), then the tenant's allow-list for the model asked for; the call's data tags are settled
here, before anything reads them."""

from __future__ import annotations

from gureum.errors import PermissionDenied
from gureum.flow import policy as flow_policy
from gureum.flow.types import Context, Next, Reply
from gureum.governance.policy import Policy
from gureum.governance.principal import Role


class Authorize:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        p = ctx.principal
        assert p is not None, "identify runs before authorize"
        if p.role is Role.AUDITOR:
            raise PermissionDenied("Auditor keys may read the audit log only; use a member key to call models.")
        flow_policy.tags(ctx, self.policy)
        ctx.model_known = self.policy.knows(ctx.model)
        self.policy.check_model(p, ctx.model)
        return await next(ctx)
