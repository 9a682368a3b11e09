#!/usr/bin/env python3
"""Queue throughput (docs/benchmarks.md): claims per second of `JobRepository.claim` with its
lease token and claim log line, each claim followed by the fenced `succeed` — one claimer, then
W concurrent claimers (asyncio tasks on one pool, as `gureum worker --concurrency W` runs).

    .venv/bin/python bench/jobs_queue.py                 # 2000 jobs, claimers 1,4,8
    .venv/bin/python bench/jobs_queue.py --jobs 5000 --claimers 1,16
Only the embedded PostgreSQL this script starts (or GUREUM_BENCH_DATABASE_URL) is contacted.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import database_url  # noqa: E402
from gureum.governance.principal import Principal  # noqa: E402
from gureum.jobs.repository import JobRepository  # noqa: E402
from gureum.store import open_store  # noqa: E402


async def run(jobs: int, claimers: list[int]) -> list[dict[str, float]]:
    store = await open_store(Path(tempfile.mkdtemp()), database_url(), pool_size=max(claimers) + 2)
    repo = JobRepository(store.engine)
    who = Principal.service("bench", "bench")
    out = []
    try:
        for w in claimers:
            kind = f"bench-{w}-{time.monotonic_ns()}"
            for _ in range(jobs):
                await repo.submit(who, kind, {}, max_attempts=1)
            done = 0

            async def claimer(i: int) -> None:
                nonlocal done
                while (c := await repo.claim(f"w{i}", [kind], 30)) is not None:
                    await repo.succeed(c, {})
                    done += 1

            t0 = time.perf_counter()
            await asyncio.gather(*(claimer(i) for i in range(w)))
            secs = time.perf_counter() - t0
            assert done == jobs, (done, jobs)
            out.append({"claimers": w, "jobs": jobs, "seconds": round(secs, 2),
                        "claims_per_s": round(jobs / secs, 1)})
            print(json.dumps(out[-1]), flush=True)
    finally:
        await store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--jobs", type=int, default=2000)
    ap.add_argument("--claimers", default="1,4,8")
    args = ap.parse_args()
    asyncio.run(run(args.jobs, [int(x) for x in args.claimers.split(",")]))


if __name__ == "__main__":
    main()
