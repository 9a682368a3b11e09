"""`/v1/jobs`: submit, list, read, logs, cancel and retry. Tenant-scoped: a member sees only the
jobs they submitted, an admin every job of the tenant; another tenant's job, or one the caller
may not see, is the same 404 as one that does not exist. Every state change is audited."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request

from gureum.api.access import audited, require
from gureum.api.common import platform, read_json, validate
from gureum.errors import InvalidRequest, NotFound, PermissionDenied
from gureum.governance.principal import Principal, Role
from gureum.jobs import registry
from gureum.jobs.repository import STATES, Job, JobRepository
from gureum.jobs.schemas import JobSubmit

router = APIRouter(prefix="/v1")
_ROLES = (Role.ADMIN, Role.MEMBER)


def _repo(request: Request) -> JobRepository:
    return JobRepository(platform(request).store.engine)


def _visible(principal: Principal, job: Job | None) -> bool:
    return job is not None and (principal.role is Role.ADMIN or job.user_id == principal.user_id)


async def _job(request: Request, principal: Principal, job_id: str) -> Job:
    job = await _repo(request).get(principal.tenant_id, job_id)
    if job is None or not _visible(principal, job):
        raise NotFound(f"No job '{job_id}'.", param="job_id", code="job_not_found")
    return job


@router.post("/jobs", status_code=201)
async def submit_job(request: Request) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    req = validate(JobSubmit, await read_json(request, 1024 * 1024))
    job_type = registry.get(req.type)
    if job_type is None:
        known = ", ".join(registry.types()) or "none"
        raise InvalidRequest(f"Unknown job type '{req.type}' (known: {known}).", param="type", code="unknown_job_type")
    if principal.role not in job_type.roles:
        raise PermissionDenied(f"A {req.type} job needs the {' or '.join(r.value for r in job_type.roles)} role.")
    settings = platform(request).settings
    params = job_type.parse(req.params, {"principal": principal, "settings": settings, "origin": "api"})
    max_attempts = req.max_attempts or settings.jobs.max_attempts
    job = await _repo(request).submit(principal, req.type, params, max_attempts=max_attempts,
                                      resources=req.resources, priority=req.priority)
    await audited(request, principal, "jobs.submit", f"job:{job.id}", {"type": job.type, "max_attempts": max_attempts})
    return job.public()


@router.get("/jobs")
async def list_jobs(request: Request, state: str | None = Query(default=None),
                    limit: int = Query(default=50, ge=1, le=1000)) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    if state is not None and state not in STATES:
        raise InvalidRequest(f"Unknown state '{state}' (one of {', '.join(STATES)}).", param="state")
    user = None if principal.role is Role.ADMIN else principal.user_id or ""
    jobs = await _repo(request).find(principal.tenant_id, state=state, limit=limit, user_id=user)
    return {"object": "list", "data": [j.public() for j in jobs]}


@router.get("/jobs/{job_id}")
async def get_job(job_id: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    return (await _job(request, principal, job_id)).public()


@router.get("/jobs/{job_id}/logs")
async def job_logs(job_id: str, request: Request, after: int = Query(default=0, ge=0)) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    job = await _job(request, principal, job_id)
    return {"object": "list", "data": await _repo(request).logs(job.id, after=after)}


@router.post("/jobs/{job_id}/cancel")
async def cancel_job(job_id: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    job = await _job(request, principal, job_id)
    after = await _repo(request).cancel(principal.tenant_id, job.id)
    assert after is not None
    await audited(request, principal, "jobs.cancel", f"job:{job.id}", {"from": job.state, "to": after.state})
    return after.public()


@router.post("/jobs/{job_id}/retry")
async def retry_job(job_id: str, request: Request) -> dict[str, Any]:
    principal = await require(request, *_ROLES)
    job = await _job(request, principal, job_id)
    after = await _repo(request).retry(principal.tenant_id, job.id)
    if after is None or after.state != "queued" or job.state not in ("failed", "cancelled"):
        raise InvalidRequest(f"Job '{job.id}' is {job.state}; only failed or cancelled jobs can be retried.",
                             param="job_id", code="job_not_retryable")
    await audited(request, principal, "jobs.retry", f"job:{job.id}", {"from": job.state})
    return after.public()
