"""Parse: read the body of a call from outside, once its caller is identified — an anonymous
request is refused before its body is touched, and a body that is too large, not JSON or not
valid is a refusal inside the audited flow like any other."""

from __future__ import annotations

from gureum.flow.types import Context, Next, Reply


class Parse:
    async def __call__(self, ctx: Context, next: Next) -> Reply:
        if ctx.read is not None:
            parsed = await ctx.read()
            ctx.read = None
            ctx.body, ctx.model, ctx.stream = parsed.body, parsed.model, parsed.stream
        return await next(ctx)
