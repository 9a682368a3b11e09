"""OpenAI's Files and Batch API (`/v1/files`, `/v1/batches`), so the official SDK's
`client.files` and `client.batches` work. A batch is a `batch-inference` job; its id is the job's.
Scoped and audited like `/v1/jobs`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from gureum.api.access import audited, require
from gureum.api.common import is_multipart, platform, read_form, read_json, validate
from gureum.errors import InvalidRequest, NotFound
from gureum.governance.principal import Principal, Role
from gureum.jobs.batch import BATCH, ENDPOINTS
from gureum.jobs.files import FileStore, StoredFile
from gureum.jobs.repository import Job, JobRepository

router = APIRouter(prefix="/v1")
_ROLES = (Role.ADMIN, Role.MEMBER)
_STATUS = {"queued": "validating", "running": "in_progress", "succeeded": "completed", "failed": "failed",
           "cancelled": "cancelled"}


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    input_file_id: str
    endpoint: str
    completion_window: str = "24h"
    metadata: dict[str, str] | None = Field(default=None)


def _files(request: Request) -> FileStore:
    p = platform(request)
    return FileStore(p.store.engine, p.settings.data_dir / "files")


def _owner(principal: Principal) -> str | None:
    return None if principal.role is Role.ADMIN else principal.user_id or ""


async def _file(request: Request, principal: Principal, file_id: str) -> StoredFile:
    f = await _files(request).get(principal.tenant_id, _owner(principal), file_id)
    if f is None:
        raise NotFound(f"No such File object: {file_id}", param="file_id", code="file_not_found")
    return f


@router.post("/files")
async def upload_file(request: Request) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    if not is_multipart(request):
        raise InvalidRequest("Upload a file as multipart/form-data with fields `file` and `purpose`.")
    form = await read_form(request, platform(request).settings.max_body_bytes, 1)
    try:
        purpose, part = form.get("purpose"), form.get("file")
        if purpose != "batch":
            raise InvalidRequest("Only purpose 'batch' is supported.", param="purpose")
        if not isinstance(part, UploadFile):
            raise InvalidRequest("The form has no `file` part.", param="file")
        data = await part.read()
        name = part.filename or "upload.jsonl"
    finally:
        await form.close()
    f = await _files(request).create(principal.tenant_id, principal.user_id, "batch", name, data)
    await audited(request, principal, "files.create", f"file:{f.id}", {"bytes": f.bytes, "purpose": f.purpose})
    return f.public()


@router.get("/files/{file_id}")
async def get_file(file_id: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    return (await _file(request, principal, file_id)).public()


@router.get("/files/{file_id}/content")
async def file_content(file_id: str, request: Request) -> FileResponse:
    principal = await require(request, *_ROLES)
    f = await _file(request, principal, file_id)
    return FileResponse(f.path, media_type="application/jsonl", filename=f.filename)


def _batch(job: Job) -> dict[str, Any]:
    result = job.result or {}
    status = "cancelling" if job.state == "running" and job.cancel_requested else _STATUS[job.state]
    counts = result.get("request_counts") or {"total": job.progress_total or 0, "completed": job.progress_done,
                                              "failed": 0}
    ts = int(job.created_at.timestamp())

    def at(state: str, when: Any) -> int | None:
        return int(when.timestamp()) if when is not None and job.state == state else None

    return {
        "id": job.id, "object": "batch", "endpoint": job.params["endpoint"],
        "errors": {"object": "list", "data": [{"code": "job_failed", "message": job.error, "param": None,
                                                "line": None}]} if job.state == "failed" else None,
        "input_file_id": job.params["input_file_id"], "completion_window": job.params.get("completion_window", "24h"),
        "status": status, "output_file_id": result.get("output_file_id"), "error_file_id": result.get("error_file_id"),
        "created_at": ts, "in_progress_at": int(job.started_at.timestamp()) if job.started_at else None,
        "expires_at": ts + 24 * 3600, "finalizing_at": None, "completed_at": at("succeeded", job.finished_at),
        "failed_at": at("failed", job.finished_at), "expired_at": None, "cancelling_at": None,
        "cancelled_at": at("cancelled", job.finished_at), "request_counts": counts,
        "metadata": job.params.get("metadata"),
    }


async def _job(request: Request, principal: Principal, batch_id: str) -> Job:
    job = await JobRepository(platform(request).store.engine).get(principal.tenant_id, batch_id)
    if job is None or job.type != BATCH or (principal.role is not Role.ADMIN and job.user_id != principal.user_id):
        raise NotFound(f"No such Batch object: {batch_id}", param="batch_id", code="batch_not_found")
    return job


@router.post("/batches")
async def create_batch(request: Request) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    req = validate(BatchCreate, await read_json(request, 64 * 1024))
    if req.endpoint not in ENDPOINTS:
        raise InvalidRequest(f"Unsupported endpoint '{req.endpoint}' (one of {', '.join(ENDPOINTS)}).",
                             param="endpoint")
    if req.completion_window != "24h":
        raise InvalidRequest("completion_window must be '24h'.", param="completion_window")
    await _file(request, principal, req.input_file_id)
    p = platform(request)
    job = await JobRepository(p.store.engine).submit(
        principal, BATCH, {"input_file_id": req.input_file_id, "endpoint": req.endpoint,
                           "completion_window": req.completion_window, "metadata": req.metadata},
        max_attempts=p.settings.jobs.max_attempts)
    await audited(request, principal, "batches.create", f"batch:{job.id}",
                  {"input_file_id": req.input_file_id, "endpoint": req.endpoint})
    return _batch(job)


@router.get("/batches")
async def list_batches(request: Request, limit: int = Query(default=20, ge=1, le=100)) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    jobs = await JobRepository(platform(request).store.engine).find(principal.tenant_id, limit=limit,
                                                                     user_id=_owner(principal), type_=BATCH)
    data = [_batch(j) for j in jobs]
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None, "has_more": False}


@router.get("/batches/{batch_id}")
async def get_batch(batch_id: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    return _batch(await _job(request, principal, batch_id))


@router.post("/batches/{batch_id}/cancel")
async def cancel_batch(batch_id: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    job = await _job(request, principal, batch_id)
    after = await JobRepository(platform(request).store.engine).cancel(principal.tenant_id, job.id)
    assert after is not None
    await audited(request, principal, "batches.cancel", f"batch:{job.id}", {"from": job.state})
    return _batch(after)
