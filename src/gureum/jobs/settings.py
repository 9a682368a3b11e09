"""Job queue and worker settings (the `jobs:` section of gureum.yaml)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class JobSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lease_seconds: float = Field(
        default=30.0, gt=0,
        description="How long a claim lives without a heartbeat; a job whose lease expired is claimed again by "
                    "another worker.")
    heartbeat_seconds: float = Field(
        default=5.0, gt=0, description="How often a worker renews the lease of each job it runs.")
    poll_seconds: float = Field(default=1.0, gt=0, description="How often an idle worker looks for a job.")
    max_attempts: int = Field(default=3, ge=1, description="Attempts of a job before it fails for good.")
    backoff_seconds: float = Field(
        default=5.0, ge=0, description="Delay before the first retry of a failed attempt; doubled each attempt.")
    backoff_max_seconds: float = Field(default=600.0, ge=0, description="Longest delay between attempts.")
    checkpoints_kept: int = Field(default=3, ge=1, description="Checkpoints kept per job (older ones are deleted).")
    concurrency: int = Field(default=1, ge=1, description="Jobs one `gureum worker` process runs at once.")
    serve_types: list[str] = Field(
        default_factory=lambda: ["set-indexes"],
        description="Job types `gureum serve` runs itself, in a worker inside the server process (one job at a "
                    "time). The default keeps the index builds that API writes hand over running without a separate "
                    "worker; add `batch-inference` or `ingest` on a single machine, or set `[]` when dedicated "
                    "`gureum worker` processes run every type.")
    ingest_sources: list[str] = Field(
        default_factory=list,
        description="Sources an `ingest` job submitted over the API may read: URI prefixes (`s3://docs-bucket/`, "
                    "`postgresql://reader@db/wiki`) or folders (`/srv/shared/docs`, matched after resolving `..` "
                    "and links). Empty: the API refuses ingest jobs, since a tenant admin is not the operator of "
                    "the machine; `gureum jobs submit` and `gureum ingest --jobs` on the machine may read any source.")
