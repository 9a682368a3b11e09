"""Request bodies of the jobs API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class JobSubmit(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(min_length=1, max_length=100, description="A registered job type.")
    params: dict[str, Any] = Field(default_factory=dict, description="The job type's parameters.")
    max_attempts: int | None = Field(default=None, ge=1, le=100, description="Attempts before it fails for good.")
    resources: dict[str, Any] = Field(default_factory=dict, description="Resource hints (cpus, memory, gpu).")
    priority: int = Field(default=0, ge=-100, le=100, description="Higher runs first.")
