"""The flow's types: one call context, one stage shape.

A stage is `async def stage(ctx, next) -> Reply`. It may return without calling `next`
(cache hit, policy block), raise a `GureumError`, or call `next` and wrap the result
(timing, accounting, unmasking a stream).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gureum.flow.operations import Operation
from gureum.governance.principal import Principal
from gureum.providers.base import Usage

if TYPE_CHECKING:
    import asyncio

    from gureum.routing.catalog import Deployment, Plan


@dataclass(slots=True)
class Reply:
    """What the flow returns: a complete OpenAI body, or a stream of OpenAI chunk dicts."""

    body: dict[str, Any] | None = None
    stream: AsyncIterator[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Context:
    """One call on its way through the flow.

    A call from outside carries the caller's `api_key`, which identify turns into the
    `principal`; a call from inside the process (an agent acting for its user, a job worker, a
    sub-call of another request) arrives with its `principal` already set by trusted code.
    `origin` says where it came from (`api`, `agent`, `job`, `knowledge`, …) and names its audit
    action (`<origin>.<op>`); a sub-call has the request it serves as `parent`.
    """

    op: Operation
    body: dict[str, Any]
    request_id: str
    origin: str = "api"
    parent: Context | None = None
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    principal: Principal | None = None
    model: str = ""
    stream: bool = False
    # An HTTP call's body reader, run by the parse stage once the caller is identified.
    read: Callable[[], Awaitable[Any]] | None = None
    # Whether `model` names something the platform has (a catalog model, an existing collection):
    # a name that does not is recorded only as a hash, since a client may put anything there.
    model_known: bool = False
    # The deployments governance lets this call use (allow-list and residency), planned once by
    # whichever stage asks first (`flow.policy.permitted`), then ordered by route into `plan`.
    permitted: Plan | None = None
    plan: Plan | None = None
    candidates: list[Deployment] = field(default_factory=list)
    deployment: Deployment | None = None
    route: dict[str, Any] = field(default_factory=dict)
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    cost_saved: float = 0.0
    tokens_saved: int = 0
    cache: str | None = None
    status: int = 200
    error_code: str | None = None
    # Governance facts the audit records: PII types seen, residency tags, documents used.
    pii_types: set[str] = field(default_factory=set)
    data_tags: set[str] = field(default_factory=set)
    resources: list[str] = field(default_factory=list)
    decision: str = "allow"
    # Extra facts for the audit event's detail (e.g. the masked prompt when the tenant asks for it).
    audit_detail: dict[str, Any] = field(default_factory=dict)
    # 0.0 (far from any soft budget) to 1.0 (at or over it); set by the budget stage, read by
    # cost-aware routing to shift `auto` to cheaper tiers.
    budget_pressure: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    # Sub-calls made so far by operation (numbering their request ids) and the commits of their
    # audit events, which this call's own audit waits for before it releases the answer.
    children: dict[str, int] = field(default_factory=dict)
    child_audits: list[asyncio.Future[None]] = field(default_factory=list)

    @property
    def model_label(self) -> str:
        """The model as ledger and audit record it: the name when the platform knows it, else only
        its hash (a client may put anything in `model`, a resident registration number included)."""
        if self.model_known or not self.model:
            return self.model
        return "unknown:" + hashlib.sha256(self.model.encode()).hexdigest()[:16]

    @property
    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


Next = Callable[[Context], Awaitable[Reply]]
Stage = Callable[[Context, Next], Awaitable[Reply]]
