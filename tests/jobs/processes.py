"""How the jobs tests start `gureum worker` as a separate process: short leases and polls so a
killed worker's job is reclaimed within seconds."""

from __future__ import annotations

import os
import sys
from pathlib import Path

CLI = [sys.executable, "-c", "from gureum.cli import main; main()"]


def worker_env(database_url: str, data: Path) -> dict[str, str]:
    env = {**os.environ, "GUREUM_DATABASE_URL": database_url, "GUREUM_DATA_DIR": str(data),
           "GUREUM_JOBS__LEASE_SECONDS": "2", "GUREUM_JOBS__HEARTBEAT_SECONDS": "0.3",
           "GUREUM_JOBS__POLL_SECONDS": "0.2", "PYTHONPATH": os.pathsep.join(["src", ".", os.environ.get("PYTHONPATH", "")])}
    env.pop("GUREUM_CONFIG", None)
    return env
