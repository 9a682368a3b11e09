#!/usr/bin/env python3
"""Work per governed chat request in process: Python function calls (cProfile) and CPU ms per
request through `platform.complete`, the upstream a fake OpenAI-wire server on loopback. Run it
from two checkouts (PYTHONPATH=<checkout>/src) to compare the flow's hot path before and after.

    PYTHONPATH=src:. .venv/bin/python bench/flow_overhead.py --requests 300
Only the embedded PostgreSQL under bench/.work (or GUREUM_BENCH_DATABASE_URL) and loopback are contacted.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import database_url  # noqa: E402

from gureum.config import load_settings  # noqa: E402
from gureum.flow.gateway import Request  # noqa: E402
from gureum.flow.operations import CHAT  # noqa: E402
from gureum.governance.principal import Principal, Role  # noqa: E402
from gureum.platform import Platform  # noqa: E402
from tests.support.fake_openai import FakeOpenAI  # noqa: E402
from tests.support.servers import serve_app  # noqa: E402


async def run(url: str, n: int, tracing: bool) -> dict[str, float]:
    extra = {"tracing": {"otlp_endpoint": "http://127.0.0.1:9/v1/traces"}} if tracing else {}
    settings = load_settings(use_file=False, data_dir=Path(tempfile.mkdtemp()), database_url=database_url(),
                             providers={"fake": {"kind": "openai", "base_url": f"{url}/v1", "api_key": "sk-x"}},
                             deployments=[{"name": "gpt-test", "provider": "fake", "model": "m", "region": "us"}],
                             cache={"enabled": False}, **extra)
    platform = await Platform.start(settings, bootstrap_keys=False)
    await platform.keys.create(tenant_id="bench", role=Role.MEMBER, create_tenant=True)
    who = Principal(tenant_id="bench", key_id="service:bench", role=Role.MEMBER, user_id="u")

    async def one(i: int) -> None:
        await platform.complete(who, Request(CHAT, {"model": "gpt-test", "messages": [
            {"role": "user", "content": f"hello {i}"}]}, "gpt-test"))

    try:
        for i in range(20):
            await one(i)
        prof = cProfile.Profile()
        prof.enable()
        for i in range(100):
            await one(i)
        prof.disable()
        calls = pstats.Stats(prof).total_calls / 100  # type: ignore[attr-defined]
        t0 = time.process_time()
        for i in range(n):
            await one(i)
        cpu = (time.process_time() - t0) * 1000 / n
    finally:
        await platform.stop()
    return {"calls_per_request": round(calls), "cpu_ms_per_request": round(cpu, 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--tracing", action="store_true", help="with tracing on (spans exported to a closed port)")
    args = ap.parse_args()
    fake = FakeOpenAI()
    with serve_app(fake.app) as url:
        print(json.dumps(asyncio.run(run(url, args.requests, args.tracing))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
