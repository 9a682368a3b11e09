"""A job type for the queue's tests: digests the lines of a file, drawing one random number per
line, checkpointing every `every` lines — enough to tell a resumed run from an uninterrupted one."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
from typing import Any

import orjson

from gureum.jobs.context import JobContext
from gureum.jobs.registry import register


@register("test-digest")
async def digest(ctx: JobContext) -> dict[str, Any]:
    lines = Path(ctx.params["input"]).read_text().splitlines()
    every, delay = int(ctx.params.get("every", 5)), float(ctx.params.get("delay", 0))
    fail_at = ctx.params.get("fail_at")
    start = ctx.state["position"] if ctx.state else 0
    out = ctx.artifact("out.jsonl")
    for i in range(start, len(lines)):
        if fail_at is not None and i == fail_at and ctx.claim.job.attempts < int(ctx.params.get("fail_times", 1)) + 1:
            raise RuntimeError(f"planned failure at line {i}")
        row = {"i": i, "sha": hashlib.sha256(lines[i].encode()).hexdigest()[:16], "draw": ctx.rng.random()}
        out.write(orjson.dumps(row) + b"\n")
        if delay:
            await asyncio.sleep(delay)
        if (i + 1) % every == 0:
            await ctx.checkpoint({"position": i + 1}, i + 1)
            await ctx.progress(i + 1, len(lines))
    return {"lines": len(lines), "output": str(out.path)}
