"""Identify: an API key → tenant, user, groups, role. A call from inside the process arrives
with the principal trusted code already holds (an agent for its user, a worker for a job's
submitter, a sub-call for its parent's caller) and is not asked for a key."""

from __future__ import annotations

from gureum.errors import StoreUnavailable
from gureum.flow.types import Context, Next, Reply
from gureum.governance.identity import KeyStore
from gureum.store.engine import UNREACHABLE


class Identify:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        if ctx.principal is None:
            try:
                ctx.principal = await self.keys.authenticate(ctx.api_key)
            except UNREACHABLE:
                raise StoreUnavailable() from None
        return await next(ctx)
