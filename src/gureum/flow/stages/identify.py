"""Identify: API key → tenant, user, groups, role."""

from __future__ import annotations

from gureum.flow.types import Context, Next, Reply
from gureum.governance.identity import KeyStore


class Identify:
    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def __call__(self, ctx: Context, next: Next) -> Reply:
        ctx.principal = await self.keys.authenticate(ctx.api_key)
        return await next(ctx)
