"""Observability settings: the `tracing:` and `metrics:` sections of gureum.yaml."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TracingSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP collector to send traces to (e.g. http://otel-collector:4318; `/v1/traces` is "
                    "added when the URL has no path). Unset: no tracing, and the flow runs without spans.",
    )
    service_name: str = Field(default="gureum", description="The `service.name` resource attribute of the spans.")
    sample_ratio: float = Field(
        default=1.0, ge=0.0, le=1.0,
        description="Share of requests traced (parent-based: a request arriving with a sampled `traceparent` is traced).",
    )
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers for the collector (auth).")


class MetricsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    token: str | None = Field(
        default=None,
        description="When set, `/metrics` answers only `Authorization: Bearer <token>` (Prometheus' "
                    "`authorization.credentials`, a ServiceMonitor's `bearerTokenSecret`); use ${ENV_VAR}. The metrics "
                    "carry tenant names and their cost, so set it wherever the port is reachable beyond the scraper. "
                    "Unset: open, as Prometheus exporters usually are.",
    )
