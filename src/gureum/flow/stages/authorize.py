"""Authorize: may this principal make this call? Roles first (an auditor reads audit and nothing
else), then every configured check (model allow-lists, residency pre-checks, …)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from gureum.errors import PermissionDenied
from gureum.flow.types import Context, Next, Reply, Role

# A check raises a GureumError (usually PolicyBlocked) to refuse; returning means "allowed".
Check = Callable[[Context], None]


class Authorize:
    def __init__(self, checks: Sequence[Check] = ()) -> None:
        self.checks = list(checks)

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        p = ctx.principal
        assert p is not None, "identify runs before authorize"
        if p.role is Role.AUDITOR:
            raise PermissionDenied("Auditor keys may read the audit log only; use a member key to call models.")
        for check in self.checks:
            check(ctx)
        return await next(ctx)
