"""Prometheus metrics, served at /metrics. Counted once per request in the account stage; the
per-deployment gauges (circuit state, in-flight calls) are read from the catalog at scrape time,
so they cost the request path nothing.

Labels are bounded by configuration, never by traffic: `endpoint` is an operation name, `model`
a catalog model or collection (`unknown` for a name the platform does not have), `deployment` a
configured deployment, `status` an HTTP status, `tenant` a tenant the operator created (only on
the cost counter). No request, user or key ids. The GenAI metrics follow the OpenTelemetry GenAI
semantic conventions, with the dots of their names and attributes as underscores.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from gureum.routing.breaker import BreakerState

REQUESTS = Counter("gureum_requests_total", "Requests through the flow.", ["endpoint", "model", "deployment", "status"])
TOKENS = Counter("gureum_tokens_total", "Tokens by direction.", ["model", "deployment", "direction"])
COST = Counter("gureum_cost_total", "Cost in configured currency units.", ["tenant", "model"])
COST_SAVED = Counter("gureum_cost_saved_total", "Cost the caches and routing saved, in currency units.", ["model"])
LATENCY = Histogram(
    "gureum_request_seconds", "End-to-end latency of flow requests.", ["endpoint", "model", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
IN_FLIGHT = Gauge("gureum_in_flight_requests", "Requests being processed (HPA/KEDA scale signal).")
CACHE_HITS = Counter("gureum_cache_hits_total", "Requests the response cache answered.", ["kind", "endpoint"])
REFUSALS = Counter("gureum_refusals_total", "Requests refused by governance.", ["reason"])
CACHE_SHADOW = Counter("gureum_cache_shadow_total", "Shadow comparisons of semantic cache hits.", ["outcome"])
CACHE_FALSE_HITS = Gauge(
    "gureum_cache_false_hit_estimate", "Live false-hit rate of the semantic cache from its shadow sample.", ["tenant"]
)

# OpenTelemetry GenAI semantic conventions (gen_ai.client.token.usage, gen_ai.client.operation.duration),
# with their recommended bucket boundaries.
GENAI_TOKENS = Histogram(
    "gen_ai_client_token_usage", "Tokens used per model call (gen_ai.client.token.usage).",
    ["gen_ai_operation_name", "gen_ai_request_model", "gen_ai_provider_name", "gen_ai_token_type"],
    buckets=(1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864),
)
GENAI_DURATION = Histogram(
    "gen_ai_client_operation_duration_seconds", "Duration of model calls (gen_ai.client.operation.duration).",
    ["gen_ai_operation_name", "gen_ai_request_model", "gen_ai_provider_name", "error_type"],
    buckets=(0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92),
)

BREAKER = Gauge("gureum_deployment_circuit_state", "Circuit breaker state per deployment (1 for the current one).",
                ["deployment", "state"])
DEPLOYMENT_IN_FLIGHT = Gauge("gureum_deployment_in_flight_calls", "Provider calls in flight per deployment.",
                             ["deployment"])

# The GenAI conventions' operation names for the flow's calls.
GENAI_OPERATION = {"chat": "chat", "embed": "embeddings", "rerank": "rerank"}
REFUSAL_CODES = frozenset({"policy_blocked", "budget_exceeded", "rate_limit_exceeded", "permission_denied",
                           "invalid_api_key"})


JOBS = Gauge("gureum_jobs", "Jobs queued and running, every tenant (the workers' scaling signal).", ["state"])


def observe_jobs(depth: dict[str, int]) -> None:
    for state, n in depth.items():
        JOBS.labels(state).set(n)


def observe_deployments(deployments: Iterable[Any]) -> None:
    """Set the per-deployment gauges from the catalog's deployments (at scrape time)."""
    for dep in deployments:
        state = dep.breaker.state
        for s in BreakerState:
            BREAKER.labels(dep.id, s.value).set(1 if s is state else 0)
        DEPLOYMENT_IN_FLIGHT.labels(dep.id).set(dep.inflight)


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
