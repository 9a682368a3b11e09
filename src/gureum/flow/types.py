"""The flow's types: one call context, one stage shape.

A stage is `async def stage(ctx, next) -> Reply`. It may return without calling `next`
(cache hit, policy block), raise a `GureumError`, or call `next` and wrap the result
(timing, accounting, unmasking a stream).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from gureum.providers.base import Usage

if TYPE_CHECKING:
    from gureum.routing.catalog import Deployment


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"
    AUDITOR = "auditor"


class Endpoint(StrEnum):
    CHAT = "chat"
    EMBEDDINGS = "embeddings"
    RETRIEVE = "retrieve"
    ANSWER = "answer"


@dataclass(frozen=True, slots=True)
class Principal:
    tenant_id: str
    key_id: str
    role: Role
    user_id: str | None = None
    groups: tuple[str, ...] = ()

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.ADMIN and self.tenant_id == ROOT_TENANT

    def principals(self) -> list[str]:
        """The ACL names this caller holds: `user:<id>`, `group:<g>` and the tenant-wide `*`."""
        out = ["*"]
        if self.user_id:
            out.append(f"user:{self.user_id}")
        out.extend(f"group:{g}" for g in self.groups)
        return out


ROOT_TENANT = "root"


@dataclass(slots=True)
class Reply:
    """What the flow returns: a complete OpenAI body, or a stream of OpenAI chunk dicts."""

    body: dict[str, Any] | None = None
    stream: AsyncIterator[dict[str, Any]] | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Context:
    endpoint: Endpoint
    body: dict[str, Any]
    request_id: str
    api_key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    principal: Principal | None = None
    model: str = ""
    stream: bool = False
    # Filled by the route and call stages.
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
    # Per-stage scratch for stages that must hand something to their own `after` step
    # (e.g. the PII vault); never read across stages.
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000.0


Next = Callable[[Context], Awaitable[Reply]]
Stage = Callable[[Context, Next], Awaitable[Reply]]
