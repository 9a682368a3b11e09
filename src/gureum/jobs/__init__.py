"""Jobs: a durable queue in PostgreSQL with leased, fenced claims, workers and checkpoints."""

from gureum.jobs.repository import Job, JobRepository, LeaseLost
from gureum.jobs.settings import JobSettings

__all__ = ["Job", "JobRepository", "JobSettings", "LeaseLost"]
