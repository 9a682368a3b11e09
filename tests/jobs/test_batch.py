"""The Batch API with the official `openai` SDK: files up, batch created, run by a worker as the
submitting user (each line a governed call: ledger row with origin `job`, audit event, PII
guard), output and error files down; another user cannot see it. Then a real worker process is
killed with SIGKILL mid-batch and another finishes it: every line in the output exactly once."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import orjson
import psycopg
import pytest
import yaml

from gureum.jobs.worker import Worker
from gureum.platform import Platform
from tests.conftest import gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.keys import make_key
from tests.support.servers import serve_app

CLI = [sys.executable, "-c", "from gureum.cli import main; main()"]


@pytest.fixture(scope="module")
def settings(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Any:
    gov = {"tenants": {"batch-budget": {"budgets": [{"scope": "tenant", "period": "day", "limit": 0.00007}]}}}
    s = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("batch"), governance=gov)
    return s.model_copy(update={"jobs": s.jobs.model_copy(update={"poll_seconds": 0.1, "heartbeat_seconds": 0.3,
                                                                  "lease_seconds": 2})})


@pytest.fixture(scope="module")
def base(settings: Any) -> Iterator[str]:
    from gureum.app import create_app

    with serve_app(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
async def platform(settings: Any, base: str) -> AsyncIterator[Platform]:
    p = await Platform.start(settings, bootstrap_keys=False)
    yield p
    await p.stop()


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in rows)


def _chat(i: int, text: str | None = None, model: str = "gpt-test") -> dict[str, Any]:
    return {"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": model, "messages": [{"role": "user", "content": text or f"question number {i}"}],
                     "max_tokens": 8}}


def _client(base: str, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)


async def test_batch_with_the_official_sdk(base: str, platform: Platform, database_url: str,
                                           upstream: tuple[FakeOpenAI, str]) -> None:
    alice = make_key(base, "batch-a", "member", user="alice")
    bob = make_key(base, "batch-a", "member", user="bob")
    rows = [_chat(i) for i in range(6)]
    rows.append(_chat(6, "call me at 010-1234-5678 please"))
    rows.append({**_chat(7), "url": "/v1/embeddings"})  # wrong endpoint for this batch
    rows.append(_chat(8, model="no-such-model"))
    client = _client(base, alice)
    f = await client.files.create(file=("in.jsonl", io.BytesIO(_jsonl(rows))), purpose="batch")
    assert f.bytes == len(_jsonl(rows))
    batch = await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions",
                                        completion_window="24h")
    assert batch.status == "validating"
    with pytest.raises(openai.NotFoundError):
        await _client(base, bob).batches.retrieve(batch.id)
    with pytest.raises(openai.NotFoundError):
        await _client(base, bob).files.content(f.id)
    with pytest.raises(openai.BadRequestError):
        await client.batches.create(input_file_id=f.id, endpoint="/v1/moderations", completion_window="24h")

    sent_before = len(upstream[0].requests)
    await asyncio.wait_for(Worker(platform.store.engine, platform.settings.jobs, platform.settings.data_dir,
                                  platform=platform, types=["batch-inference"]).run(max_jobs=1), 60)
    done = await client.batches.retrieve(batch.id)
    assert done.status == "completed", done
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (9, 7, 2)
    assert done.output_file_id and done.error_file_id
    out = [orjson.loads(x) for x in (await client.files.content(done.output_file_id)).text.splitlines()]
    assert sorted(o["custom_id"] for o in out) == sorted(f"req-{i}" for i in range(7))
    assert all(o["response"]["status_code"] == 200 and o["response"]["body"]["object"] == "chat.completion"
               for o in out)
    errs = {e["custom_id"]: e for e in
            (orjson.loads(x) for x in (await client.files.content(done.error_file_id)).text.splitlines())}
    assert set(errs) == {"req-7", "req-8"}
    assert errs["req-7"]["response"]["status_code"] == 400
    assert errs["req-8"]["response"]["status_code"] == 404
    assert set(errs["req-8"]["response"]["body"]["error"]) == {"message", "type", "param", "code"}
    # The PII guard applied to the line: the upstream never saw the phone number.
    sent = [orjson.dumps(b).decode() for b in upstream[0].requests[sent_before:]]
    assert len(sent) == 7 and not any("010-1234-5678" in s for s in sent)
    await asyncio.sleep(0.5)
    with psycopg.connect(database_url) as conn:
        ledger = conn.execute("SELECT request_id, origin, user_id, status FROM ledger WHERE request_id LIKE %s",
                              (f"{batch.id}-%",)).fetchall()
        audit = conn.execute("SELECT count(*) FROM audit_events WHERE request_id LIKE %s AND user_id = 'alice'",
                             (f"{batch.id}-%",)).fetchone()
    ok = [r for r in ledger if r[3] == 200]
    assert len(ok) == 7 and {r[1] for r in ledger} == {"job"} and {r[2] for r in ledger} == {"alice"}
    assert audit is not None and audit[0] >= 8  # every governed line, refused ones too


def _worker(settings: Any, database_url: str, tmp: Path) -> list[str]:
    cfg = tmp / "gureum.yaml"
    cfg.write_text(yaml.safe_dump({
        "providers": {k: v.model_dump(mode="json", exclude_none=True) for k, v in settings.providers.items()},
        "deployments": [d.model_dump(mode="json", exclude_none=True) for d in settings.deployments],
        "jobs": settings.jobs.model_dump(mode="json"),
    }))
    return [*CLI, "worker", "--config", str(cfg), "--data-dir", str(settings.data_dir), "--max-jobs", "1"]


async def test_sigkill_mid_batch_every_line_once(base: str, settings: Any, database_url: str,
                                                 upstream: tuple[FakeOpenAI, str], tmp_path: Path) -> None:
    alice = make_key(base, "batch-k", "member", user="alice")
    client = _client(base, alice)
    n = 40
    f = await client.files.create(file=("in.jsonl", io.BytesIO(_jsonl([_chat(100 + i) for i in range(n)]))),
                                  purpose="batch")
    batch = await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("""UPDATE jobs SET params = params || '{"checkpoint_every": 5}' WHERE id = %s""", (batch.id,))
    upstream[0].default = "slow:0.1"
    env = {**os.environ, "GUREUM_DATABASE_URL": database_url,
           "PYTHONPATH": os.pathsep.join(["src", ".", os.environ.get("PYTHONPATH", "")])}
    env.pop("GUREUM_CONFIG", None)
    cmd = _worker(settings, database_url, tmp_path)
    cwd = Path(__file__).resolve().parents[2]
    try:
        first = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while True:
            with psycopg.connect(database_url) as conn:
                seq = conn.execute("SELECT checkpoint_seq FROM jobs WHERE id = %s", (batch.id,)).fetchone()[0]
            if (seq or 0) >= 2:
                break
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        time.sleep(0.25)  # between checkpoints: lines written after the last one are lost work
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        second = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=180)
        assert second.returncode == 0, second.stderr
    finally:
        upstream[0].default = "ok"
    done = await client.batches.retrieve(batch.id)
    assert done.status == "completed", done
    assert done.request_counts is not None and done.request_counts.completed == n
    ids = [orjson.loads(x)["custom_id"] for x in (await client.files.content(done.output_file_id or "")).text.splitlines()]
    assert sorted(ids) == sorted(f"req-{100 + i}" for i in range(n))  # every line, none twice
    with psycopg.connect(database_url) as conn:
        epoch = conn.execute("SELECT epoch FROM jobs WHERE id = %s", (batch.id,)).fetchone()[0]
    assert epoch == 2


async def test_a_batch_over_its_budget_stops_with_a_clear_state(base: str, platform: Platform,
                                                                database_url: str) -> None:
    client = _client(base, make_key(base, "batch-budget", "member", user="carol"))
    n = 12
    f = await client.files.create(file=("in.jsonl", io.BytesIO(_jsonl([_chat(200 + i) for i in range(n)]))),
                                  purpose="batch")
    batch = await client.batches.create(input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h")
    await asyncio.wait_for(Worker(platform.store.engine, platform.settings.jobs, platform.settings.data_dir,
                                  platform=platform, types=["batch-inference"]).run(max_jobs=1), 60)
    done = await client.batches.retrieve(batch.id)
    assert done.status == "failed" and done.errors is not None and done.errors.data
    message = done.errors.data[0].message or ""
    assert "budget exceeded at line" in message
    await asyncio.sleep(0.5)
    with psycopg.connect(database_url) as conn:
        ok = conn.execute("SELECT count(*) FROM ledger WHERE request_id LIKE %s AND status = 200",
                          (f"{batch.id}-%",)).fetchone()[0]
        position, attempts = conn.execute("SELECT progress_done, attempts FROM jobs WHERE id = %s",
                                          (batch.id,)).fetchone()
    assert 0 < ok < n and position == ok and attempts == 1  # stopped where the budget ran out, not retried
    assert f"{ok} lines are done" in message
