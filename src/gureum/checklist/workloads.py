"""Workload definition (the first question): which workloads the platform declares and how each
is shaped — stateless inference, stateful agents, batch jobs — with its store and scaling signal.

Each workload kind registers one function that lists its workloads from the declared platform;
the report and the diagram pick a new kind up without a change there."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gureum.checklist.declared import DeclaredPlatform

IN_FLIGHT_METRIC = "gureum_in_flight_requests"


@dataclass(frozen=True)
class Workload:
    kind: str
    name: str
    shape: str  # stateless | stateful | batch
    store: str
    scaling: str
    detail: str = ""


Lister = Callable[[DeclaredPlatform], list[Workload]]
WORKLOAD_KINDS: dict[str, Lister] = {}


def workload_kind(kind: str) -> Callable[[Lister], Lister]:
    def register(fn: Lister) -> Lister:
        WORKLOAD_KINDS[kind] = fn
        return fn

    return register


def store_of(p: DeclaredPlatform) -> str:
    return "PostgreSQL by URL" if p.settings.database_url else "embedded PostgreSQL (this machine only)"


def counters_of(p: DeclaredPlatform) -> str:
    return "Redis" if p.settings.redis_url else "in process (per replica)"


@workload_kind("inference")
def _inference(p: DeclaredPlatform) -> list[Workload]:
    models = sorted({d.name for d in p.settings.deployments if d.kind == "chat"} | set(p.settings.virtual_models))
    return [Workload(
        "inference", "gateway", "stateless", f"{store_of(p)}; counters and exact cache {counters_of(p)}",
        f"API replicas on {IN_FLIGHT_METRIC}", f"{len(p.settings.deployments)} deployments; models: {', '.join(models)}",
    )]


@workload_kind("rag")
def _rag(p: DeclaredPlatform) -> list[Workload]:
    return [
        Workload("rag", f"rag/{c.name}", "stateless", f"{store_of(p)} + pgvector",
                 "API replicas (queries); `gureum ingest` (batch, one process)",
                 f"tenant {c.tenant}; embedder {c.embedder}; answers {c.answer_model or 'auto'}"
                 + (f"; reranker {c.reranker}" if c.reranker else "") + ("" if c.path else " (running platform)"))
        for c in p.collections
    ]


@workload_kind("agents")
def _agents(p: DeclaredPlatform) -> list[Workload]:
    return [
        Workload("agents", f"agent {a.name}", "stateful",
                 f"{store_of(p)} (sessions, tool calls, approvals; memories on pgvector)",
                 f"API replicas on {IN_FLIGHT_METRIC}; any replica continues a session",
                 f"tenant {a.tenant}; model {a.model}; tools: {', '.join(t.name for t in a.tools) or 'none'}")
        for a in p.settings.agents
    ]


@workload_kind("jobs")
def _jobs(p: DeclaredPlatform) -> list[Workload]:
    # The Batch API and the job queue exist on every platform: they are declared by the platform
    # itself, not by a file, so there is always this one workload.
    return [Workload(
        "jobs", "job queue", "batch", f"{store_of(p)} (queue, leases); checkpoints under {p.settings.data_dir}/jobs",
        "`gureum worker` processes on gureum_jobs{state=\"queued\"}",
        f"batch inference (OpenAI Batch API); {p.settings.jobs.checkpoints_kept} checkpoints kept",
    )]


def workloads(p: DeclaredPlatform) -> list[Workload]:
    return [w for lister in WORKLOAD_KINDS.values() for w in lister(p)]


__all__ = ["IN_FLIGHT_METRIC", "WORKLOAD_KINDS", "Workload", "workload_kind", "workloads"]
