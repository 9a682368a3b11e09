"""Checkpoints that count only once durable: the state is written to a temporary file, fsynced,
renamed into place and the directory fsynced, and only then is its row committed (fenced by the
lease). A crash before the commit leaves a file no row names, which is ignored and overwritten;
a crash after it leaves a checkpoint the next claim resumes from. The last N are kept."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import orjson

from gureum.jobs.repository import Claim, JobRepository


class CorruptCheckpoint(Exception):
    """A committed checkpoint whose file is missing or does not match its recorded digest."""


def write_durably(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that after a crash it is either absent or complete."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Checkpoints:
    def __init__(self, repo: JobRepository, claim: Claim, directory: Path, keep: int) -> None:
        self.repo, self.claim, self.directory, self.keep = repo, claim, directory, keep
        self.seq = claim.job.checkpoint_seq or 0

    async def load(self) -> dict[str, Any] | None:
        """The state of the last committed checkpoint, or None if there is none."""
        latest = await self.repo.latest_checkpoint(self.claim.id)
        if latest is None:
            return None
        seq, path, digest = latest
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise CorruptCheckpoint(f"checkpoint {seq} of job {self.claim.id} is unreadable: {exc}") from None
        if hashlib.sha256(data).hexdigest() != digest:
            raise CorruptCheckpoint(f"checkpoint {seq} of job {self.claim.id} does not match its digest")
        self.seq = seq
        state: dict[str, Any] = orjson.loads(data)
        return state

    async def save(self, state: dict[str, Any], done: int) -> int:
        """Make `state` the job's checkpoint; returns its number."""
        seq = self.seq + 1
        self.directory.mkdir(parents=True, exist_ok=True)
        data = orjson.dumps(state)
        # The claim's epoch in the name: a stale worker never writes over a newer claim's file.
        path = self.directory / f"ckpt-{seq:08d}-e{self.claim.epoch}.json"
        write_durably(path, data)
        old = await self.repo.commit_checkpoint(self.claim, seq, str(path), hashlib.sha256(data).hexdigest(),
                                                done, self.keep)
        self.seq = seq
        for p in old:
            Path(p).unlink(missing_ok=True)
        return seq
