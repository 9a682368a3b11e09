"""Prometheus metrics, served at /metrics. Counted once per request in the account stage."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

REQUESTS = Counter("gureum_requests_total", "Requests through the flow.", ["endpoint", "model", "status"])
TOKENS = Counter("gureum_tokens_total", "Tokens by direction.", ["model", "deployment", "direction"])
COST = Counter("gureum_cost_total", "Cost in configured currency units.", ["tenant", "model"])
LATENCY = Histogram(
    "gureum_request_seconds", "End-to-end latency of flow requests.", ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
IN_FLIGHT = Gauge("gureum_in_flight_requests", "Requests being processed (HPA/KEDA scale signal).")


def render() -> tuple[bytes, str]:
    return generate_latest(), CONTENT_TYPE_LATEST
