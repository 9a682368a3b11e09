"""What a running job sees: its parameters and submitter, progress and logs, a random generator
and output artifacts whose state is part of every checkpoint, so that a resumed job continues
exactly where its last checkpoint was — same random draws, output truncated back to the
checkpointed length, so no row is written twice and none is lost."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import IO, Any

from gureum.governance.principal import Principal
from gureum.jobs.checkpoints import Checkpoints, fsync_dir
from gureum.jobs.repository import Claim, JobRepository


class Artifact:
    """An output file of the job, appended to. Its length is saved with each checkpoint."""

    def __init__(self, path: Path, length: int) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[bytes] = open(path, "ab")
        # What a lost attempt wrote after its last checkpoint is not part of the output.
        self._f.truncate(length)
        self._f.seek(length)

    def write(self, data: bytes) -> None:
        self._f.write(data)

    def sync(self) -> int:
        self._f.flush()
        os.fsync(self._f.fileno())
        return self._f.tell()

    def close(self) -> None:
        self._f.close()


class JobContext:
    def __init__(self, repo: JobRepository, claim: Claim, workdir: Path, checkpoints: Checkpoints,
                 restored: dict[str, Any] | None, platform: Any | None) -> None:
        self.repo, self.claim, self.workdir, self.platform = repo, claim, workdir, platform
        self._checkpoints = checkpoints
        self._restored = restored or {}
        self.state: dict[str, Any] | None = self._restored.get("state")
        self.rng = random.Random(claim.job.params.get("seed", claim.id))
        if "rng" in self._restored:
            version, internal, gauss = self._restored["rng"]
            self.rng.setstate((version, tuple(internal), gauss))
        self._artifacts: dict[str, Artifact] = {}

    @property
    def params(self) -> dict[str, Any]:
        return self.claim.job.params

    @property
    def principal(self) -> Principal:
        return self.claim.job.principal

    @property
    def job_id(self) -> str:
        return self.claim.id

    def artifact(self, name: str) -> Artifact:
        if name not in self._artifacts:
            length = int(self._restored.get("artifacts", {}).get(name, 0))
            self._artifacts[name] = Artifact(self.workdir / "artifacts" / name, length)
        return self._artifacts[name]

    async def progress(self, done: int, total: int | None = None) -> None:
        await self.repo.progress(self.claim, done, total)

    async def log(self, message: str, level: str = "info") -> None:
        await self.repo.log(self.claim, level, message)

    async def checkpoint(self, state: dict[str, Any], done: int) -> int:
        """Commit `state` (the data position and whatever the job needs to continue) together
        with the random state and the artifacts' lengths."""
        lengths = self.sync_artifacts()
        if self._artifacts:
            fsync_dir(self.workdir / "artifacts")
        rng = self.rng.getstate()
        self.state = state
        return await self._checkpoints.save(
            {"state": state, "rng": [rng[0], list(rng[1]), rng[2]], "artifacts": lengths}, done)

    def sync_artifacts(self) -> dict[str, int]:
        return {name: a.sync() for name, a in self._artifacts.items()}

    def close(self) -> None:
        for a in self._artifacts.values():
            a.close()
