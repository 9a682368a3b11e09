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
