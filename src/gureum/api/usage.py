"""Usage and cost: grouped ledger totals with cache and routing savings, month-end projections
against budgets, and outcome labels for training the `auto` router. Tenant-scoped: a key sees
its own tenant; a platform (root tenant) admin or auditor sees any tenant, or all."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from gureum.api.access import audited, require, tenant_scope
from gureum.api.common import platform, read_json, validate
from gureum.economy import usage
from gureum.errors import InvalidRequest, NotFound
from gureum.governance.principal import Role

router = APIRouter(prefix="/v1/usage")


@router.get("")
async def get_usage(
    request: Request,
    group_by: str = "model",
    since: datetime | None = None,
    until: datetime | None = None,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    """`group_by`: comma-separated tenant, user, key, model, deployment, provider, region, endpoint, origin, day."""
    principal = await require(request, Role.ADMIN, Role.MEMBER, Role.AUDITOR)
    tenant = tenant_scope(principal, tenant_id)
    try:
        groups = usage.parse_group_by(group_by)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param="group_by") from None
    p = platform(request)
    q = usage.UsageQuery(tenant, groups, since, until, usage.timezone_of(p.settings))
    engine = p.store.engine
    rows = await usage.report(engine, q)
    totals = await usage.totals(engine, q)
    projections = await usage.projections(engine, p.settings, tenant)
    await audited(request, principal, "usage.read", "usage", {"tenant": tenant or "*", "group_by": groups})
    return {
        "object": "list", "tenant": tenant, "group_by": groups, "currency": p.settings.economy.currency,
        "since": since.isoformat() if since else None, "until": until.isoformat() if until else None,
        "data": rows, "totals": totals, "projections": projections,
    }


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request_id: str = Field(min_length=1, max_length=200)
    outcome: Literal["good", "bad"]


@router.post("/outcomes")
async def post_outcome(request: Request) -> dict[str, Any]:
    """Label a logged request's answer good or bad; `gureum route train --from-ledger` learns
    the difficulty model from these labels."""
    principal = await require(request, Role.ADMIN, Role.MEMBER)
    req = validate(Outcome, await read_json(request, 16 * 1024))
    tenant = tenant_scope(principal, None)
    n = await usage.label_outcome(platform(request).store.engine, req.request_id, req.outcome == "good", tenant)
    if not n:
        raise NotFound(f"no routed request '{req.request_id}' in the ledger" + (f" of tenant '{tenant}'" if tenant else ""))
    await audited(request, principal, "usage.outcome", f"request:{req.request_id}", {"outcome": req.outcome})
    return {"request_id": req.request_id, "outcome": req.outcome, "updated": n}
