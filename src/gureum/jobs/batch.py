"""The `batch-inference` job (OpenAI Batch API): each input line is one governed call as the
submitting user — PII guard, budgets, routing, cache, ledger and audit apply per line, with
origin `job` and a request id derived from the batch and line number. Output and error lines
are artifacts, so a resumed batch continues after its last checkpoint with the lines written
since then cut off: every line appears exactly once in the output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from gureum.errors import BudgetExceeded, GureumError
from gureum.flow.gateway import Request
from gureum.flow.operations import CHAT, EMBEDDINGS, Operation
from gureum.jobs.context import JobContext
from gureum.jobs.files import FileStore
from gureum.jobs.registry import register

ENDPOINTS: dict[str, Operation] = {"/v1/chat/completions": CHAT, "/v1/embeddings": EMBEDDINGS}
BATCH = "batch-inference"


class BatchBudgetExceeded(Exception):
    """A hard budget refused a line: the batch stops there rather than refuse every line after it.
    Its checkpoint is at that line, so a retry once the budget allows continues from it."""

    retriable = False


class BatchInputError(Exception):
    """The batch cannot run at all (its input file is gone); not worth another attempt."""

    retriable = False


def _line(ctx: JobContext, i: int, custom_id: Any, status: int, body: dict[str, Any], rid: str) -> bytes:
    return orjson.dumps({"id": f"batch_req_{ctx.job_id}_{i}", "custom_id": custom_id,
                         "response": {"status_code": status, "request_id": rid, "body": body}, "error": None}) + b"\n"


def _invalid(message: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "invalid_batch_line"}}


@register(BATCH)
async def batch_inference(ctx: JobContext) -> dict[str, Any]:
    platform = ctx.platform
    if platform is None:
        raise BatchInputError("batch-inference needs a worker started with the platform (`gureum worker`)")
    endpoint = str(ctx.params["endpoint"])
    op = ENDPOINTS[endpoint]
    files = FileStore(platform.store.engine, platform.settings.data_dir / "files")
    src = await files.get(ctx.principal.tenant_id, None, str(ctx.params["input_file_id"]))
    if src is None:
        raise BatchInputError(f"input file {ctx.params['input_file_id']} is gone")
    lines = [ln for ln in Path(src.path).read_bytes().splitlines() if ln.strip()]
    state = ctx.state or {"position": 0, "completed": 0, "failed": 0}
    every = int(ctx.params.get("checkpoint_every", 10))
    out, err = ctx.artifact("output.jsonl"), ctx.artifact("errors.jsonl")
    await ctx.progress(state["position"], len(lines))
    for i in range(state["position"], len(lines)):
        rid = f"{ctx.job_id}-{i}"
        custom_id: Any = None
        try:
            item = orjson.loads(lines[i])
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(item, dict) or item.get("url") != endpoint or not isinstance(item.get("body"), dict):
                raise ValueError(f"each line must be an object with custom_id, url '{endpoint}' and a body")
        except ValueError as exc:
            err.write(_line(ctx, i, custom_id, 400, _invalid(f"line {i + 1}: {exc}"), rid))
            state["failed"] += 1
        else:
            body = item["body"]
            try:
                reply = await platform.complete(ctx.principal, Request(op, body, str(body.get("model", "")),
                                                                       request_id=rid), origin="job")
                out.write(_line(ctx, i, custom_id, 200, reply.body or {}, rid))
                state["completed"] += 1
            except BudgetExceeded as exc:
                await ctx.checkpoint(dict(state), state["position"])
                raise BatchBudgetExceeded(f"budget exceeded at line {i + 1} of {len(lines)}: {exc.message} "
                                          f"{state['position']} lines are done; retry the job once the budget "
                                          "allows to continue from there") from None
            except GureumError as exc:
                err.write(_line(ctx, i, custom_id, exc.status, exc.body(), rid))
                state["failed"] += 1
        state["position"] = i + 1
        if state["position"] % every == 0 or state["position"] == len(lines):
            await ctx.checkpoint(dict(state), state["position"])
            await ctx.progress(state["position"], len(lines))
    sizes = ctx.sync_artifacts()
    result: dict[str, Any] = {"request_counts": {"total": len(lines), "completed": state["completed"],
                                                 "failed": state["failed"]},
                              "output_file_id": None, "error_file_id": None}
    user = ctx.principal.user_id
    for key, art, name in (("output_file_id", out, "output"), ("error_file_id", err, "errors")):
        if sizes[art.path.name]:
            f = await files.register(f"file-{ctx.job_id}-{name}", ctx.principal.tenant_id, user, "batch_output",
                                     f"{ctx.job_id}_{name}.jsonl", art.path.resolve())
            result[key] = f.id
    return result
