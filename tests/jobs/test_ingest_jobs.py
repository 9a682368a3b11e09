"""The `ingest` and `set-indexes` jobs on a real PostgreSQL with the real e5 embedder: a source
ingested by one job and by two shard jobs gives the same collection (and `sync` in shards removes
each stale document once); a worker process killed with SIGKILL mid-ingest and another one
finishing give that collection again, no document twice; an API upload that pushes an ACL set
past the own-index threshold answers at once and the server's own worker builds the index; the
API refuses ingest jobs from members and sources outside `jobs.ingest_sources`."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from gureum.config import Settings
from gureum.governance.principal import Principal
from gureum.jobs import registry
from gureum.jobs.ingest import INGEST, allowed_source
from gureum.jobs.repository import JobRepository
from gureum.jobs.set_indexes import SET_INDEXES, hand_over
from gureum.jobs.worker import Worker
from gureum.knowledge import collections
from gureum.knowledge.index import set_indexes
from gureum.platform import Platform
from tests.conftest import ADMIN_KEY
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.jobs.processes import CLI, worker_env
from tests.support.servers import serve_app

ROOT = Path(__file__).resolve().parents[2]
TENANT = "ingest-t"
ADMIN = Principal.service(TENANT, "test")
TOPICS = ["연차 휴가", "출장비 정산", "보안 서약", "재택근무", "법인카드", "교육 지원"]


def _write_source(root: Path, n: int) -> Path:
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        folder = root / f"팀{i % 7}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"규정-{i:04d}.md").write_text(
            f"# {topic} 규정 {i}\n\n{topic}에 관한 제{i}조. 신청은 전자결재로 하며 팀장 승인이 필요하다. "
            f"Rule {i} about {topic}: apply through e-approval; the team lead approves.\n", encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _write_source(tmp_path_factory.mktemp("src") / "규정집", 90)


@pytest.fixture(scope="module")
def kn(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    s = kn_gateway_settings(database_url, None, tmp_path_factory.mktemp("ingest-jobs"))
    return s.model_copy(update={"jobs": s.jobs.model_copy(update={
        "poll_seconds": 0.1, "heartbeat_seconds": 0.3, "lease_seconds": 2})})


@pytest.fixture(scope="module")
async def platform(kn: Settings) -> AsyncIterator[Platform]:
    p = await Platform.start(kn, bootstrap_keys=False)
    yield p
    await p.stop()


async def _collection(platform: Platform, name: str) -> None:
    await collections.create(platform.store.engine, platform.settings, TENANT, name, exist_ok=True)


async def _drain(platform: Platform, jobs: list[str], workers: int = 2) -> None:
    repo = JobRepository(platform.store.engine)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(Worker(platform.store.engine, platform.settings.jobs, platform.settings.data_dir,
                                        platform=platform, types=[INGEST, SET_INDEXES]).run(stop))
             for _ in range(workers)]
    deadline = time.monotonic() + 300
    try:
        while True:
            states = [(await repo.get(None, j)).state for j in jobs]  # type: ignore[union-attr]
            if all(s in ("succeeded", "failed", "cancelled") for s in states):
                break
            assert time.monotonic() < deadline, states
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    for j in jobs:
        job = await repo.get(None, j)
        assert job is not None and job.state == "succeeded", (job.error if job else j)


def _snapshot(database_url: str, name: str) -> dict[str, Any]:
    """What a collection holds: per document its hash, ACL and chunks (text, order, vector)."""
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT d.uri, d.content_hash, d.acl, c.ordinal, c.text, c.embedding::text FROM documents d "
            "JOIN collections col ON col.id = d.collection_id JOIN chunks c ON c.document_id = d.id "
            "WHERE col.tenant_id = %s AND col.name = %s ORDER BY d.uri, c.ordinal", (TENANT, name)).fetchall()
        uris = [r[0] for r in conn.execute(
            "SELECT d.uri FROM documents d JOIN collections col ON col.id = d.collection_id "
            "WHERE col.tenant_id = %s AND col.name = %s", (TENANT, name))]
    assert len(uris) == len(set(uris)), "a document was written twice"
    out: dict[str, Any] = {}
    for uri, digest, acl, ordinal, text, vec in rows:
        out.setdefault(uri, {"hash": digest, "acl": acl, "chunks": []})["chunks"].append(
            (ordinal, text, np.array([float(x) for x in vec.strip("[]").split(",")])))
    return out


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert sorted(a) == sorted(b)
    for uri in a:
        assert a[uri]["hash"] == b[uri]["hash"] and a[uri]["acl"] == b[uri]["acl"], uri
        assert [c[:2] for c in a[uri]["chunks"]] == [c[:2] for c in b[uri]["chunks"]], uri
        for (_, _, va), (_, _, vb) in zip(a[uri]["chunks"], b[uri]["chunks"], strict=True):
            # Batches are cut differently when a source is split, and ONNX Runtime's sums may
            # differ in the last bits with the batch's padding: the same vector, not the same bytes.
            assert float(va @ vb) > 0.9999, uri


async def _submit(platform: Platform, name: str, source: Path, *, shards: int = 1, sync: bool = False) -> list[str]:
    t = registry.get(INGEST)
    assert t is not None
    repo = JobRepository(platform.store.engine)
    return [(await repo.submit(ADMIN, INGEST, t.parse({"collection": name, "source": str(source), "sync": sync,
                                                       "shard": k, "shards": shards}), max_attempts=3)).id
            for k in range(shards)]


@pytest.fixture(scope="module")
async def reference(platform: Platform, source: Path, database_url: str) -> dict[str, Any]:
    await _collection(platform, "one")
    jobs = await _submit(platform, "one", source)
    await _drain(platform, jobs, workers=1)
    job = await JobRepository(platform.store.engine).get(None, jobs[0])
    assert job is not None and job.result is not None and job.result["added"] == 90 and job.result["failed"] == []
    assert job.progress_done == 90 and job.progress_total == 90
    return _snapshot(database_url, "one")


async def test_two_shards_ingest_what_one_job_does(platform: Platform, source: Path, database_url: str,
                                                   reference: dict[str, Any], tmp_path: Path) -> None:
    await _collection(platform, "two")
    jobs = await _submit(platform, "two", source, shards=2)
    await _drain(platform, jobs)
    repo = JobRepository(platform.store.engine)
    added = [(await repo.get(None, j)).result["added"] for j in jobs]  # type: ignore[union-attr,index]
    assert sum(added) == 90 and all(0 < a < 90 for a in added)  # each took a share, together all
    _same(_snapshot(database_url, "two"), reference)

    # sync in shards: a removed file is deleted by the one shard that owns it, the rest untouched
    copy = _write_source(tmp_path / "규정집", 90)
    gone = copy / "팀3" / "규정-0010.md"
    gone.unlink()
    jobs = await _submit(platform, "two", copy, shards=2, sync=True)
    await _drain(platform, jobs)
    results = [(await repo.get(None, j)).result for j in jobs]
    assert sum(r["deleted"] for r in results) == 1 and sum(r["added"] + r["updated"] for r in results) == 0  # type: ignore[index]
    after = _snapshot(database_url, "two")
    assert sorted(after) == sorted(u for u in reference if u != "팀3/규정-0010.md")


async def test_sigkill_mid_ingest_then_another_worker_finishes_it(
    platform: Platform, source: Path, database_url: str, reference: dict[str, Any], tmp_path: Path
) -> None:
    big = _write_source(tmp_path / "큰규정집", 400)
    await _collection(platform, "killed")
    await _collection(platform, "whole")
    (job_id,) = await _submit(platform, "killed", big)
    cmd = [*CLI, "worker", "--max-jobs", "1"]
    first = subprocess.Popen(cmd, env=worker_env(database_url, tmp_path / "data"), cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    deadline = time.monotonic() + 180
    with psycopg.connect(database_url, autocommit=True) as conn:
        while (conn.execute("SELECT count(*) FROM documents d JOIN collections c ON c.id = d.collection_id "
                            "WHERE c.tenant_id = %s AND c.name = 'killed'", (TENANT,)).fetchone() or [0])[0] < 60:
            assert first.poll() is None, first.stderr.read() if first.stderr else ""
            assert time.monotonic() < deadline
            time.sleep(0.05)
    first.send_signal(signal.SIGKILL)
    first.wait(10)
    job = await JobRepository(platform.store.engine).get(None, job_id)
    assert job is not None and job.state == "running" and job.epoch == 1  # killed mid-run
    second = subprocess.run(cmd, env=worker_env(database_url, tmp_path / "data"), cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0, second.stderr
    job = await JobRepository(platform.store.engine).get(None, job_id)
    assert job is not None and job.state == "succeeded" and job.epoch == 2, job
    assert job.result is not None and job.result["unchanged"] >= 60 and job.result["added"] <= 340
    # The uninterrupted run of the same source, for comparison.
    await _drain(platform, await _submit(platform, "whole", big), workers=1)
    _same(_snapshot(database_url, "killed"), _snapshot(database_url, "whole"))


async def test_hand_over_queues_one_job_only_when_there_is_work(platform: Platform, source: Path,
                                                                reference: dict[str, Any]) -> None:
    engine = platform.store.engine
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(set_indexes, "OWN_INDEX_MIN", 10_000)
        assert await hand_over(engine, TENANT, 3) is None  # no set is that large
        patch.setattr(set_indexes, "OWN_INDEX_MIN", 10)
        first = await hand_over(engine, TENANT, 3)
        assert first is not None and await hand_over(engine, TENANT, 3) == first  # queued once
        assert await hand_over(engine, "elsewhere", 3) is None  # another tenant's sets are not its work
        await _drain(platform, [first], workers=1)
        job = await JobRepository(engine).get(TENANT, first)
        assert job is not None and job.result is not None and job.result["built"] >= 1
        assert await hand_over(engine, TENANT, 3) is None  # converged


@pytest.fixture(scope="module")
def server(database_url: str, source: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    settings = kn_gateway_settings(database_url, None, tmp_path_factory.mktemp("ingest-api"))
    settings = settings.model_copy(update={"jobs": settings.jobs.model_copy(update={
        "poll_seconds": 0.1, "ingest_sources": [str(source)]})})
    with serve_app(create_app(settings)) as base:
        api = Api(base)
        keys = {"admin": api.key(ADMIN_KEY, "api-t", "admin", user="boss"),
                "member": api.key(ADMIN_KEY, "api-t", user="kim")}
        r = api.call("POST", "/v1/collections", keys["admin"], {"name": "wiki"})
        assert r.status_code == 201, r.text  # type: ignore[attr-defined]
        yield {"api": api, "keys": keys}


def test_upload_hands_the_index_build_to_the_servers_worker(server: dict[str, Any], database_url: str) -> None:
    api, admin = server["api"], server["keys"]["admin"]
    docs = [{"uri": f"d{i}.txt", "text": f"공지 {i}: 사내 식당은 12시에 연다.", "acl": {"groups": ["eng"]}}
            for i in range(12)]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(set_indexes, "OWN_INDEX_MIN", 10_000)
        r = api.call("POST", "/v1/collections/wiki/documents", admin, {"documents": docs[:2]})
        assert r.status_code == 200 and r.json()["index_job"] is None, r.text  # type: ignore[attr-defined]
        patch.setattr(set_indexes, "OWN_INDEX_MIN", 10)
        r = api.call("POST", "/v1/collections/wiki/documents", admin, {"documents": docs[2:]})
        assert r.status_code == 200, r.text  # type: ignore[attr-defined]
        job_id = r.json()["index_job"]  # type: ignore[attr-defined]
        assert job_id is not None
        deadline = time.monotonic() + 60
        while (job := api.call("GET", f"/v1/jobs/{job_id}", admin).json())["state"] != "succeeded":  # type: ignore[attr-defined]
            assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
            time.sleep(0.1)
    assert job["type"] == SET_INDEXES and job["result"]["built"] == 1
    with psycopg.connect(database_url) as conn:
        valid = conn.execute(
            "SELECT count(*) FROM acl_sets s JOIN collections col ON col.id = s.collection_id "
            "JOIN pg_class c ON c.relname = 'chunks_hnsw_set_' || s.id JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE col.tenant_id = 'api-t' AND i.indisvalid AND 'group:eng' = ANY(s.acl)").fetchone()
    assert valid is not None and valid[0] == 1
    # The member who uploaded nothing cannot see the tenant's maintenance job.
    assert api.call("GET", f"/v1/jobs/{job_id}", server["keys"]["member"]).status_code == 404  # type: ignore[attr-defined]


def test_api_ingest_jobs_need_an_admin_and_an_allowed_source(server: dict[str, Any], source: Path,
                                                             tmp_path: Path) -> None:
    api, keys = server["api"], server["keys"]

    def submit(key: str, params: dict[str, Any]) -> Any:
        return api.call("POST", "/v1/jobs", key, {"type": INGEST, "params": params})

    ok = {"collection": "wiki", "source": str(source)}
    r = submit(keys["member"], ok)
    assert r.status_code == 403 and r.json()["error"]["type"] == "permission_error", r.text
    for bad, param in ((str(tmp_path), "params.source"), (f"{source}/../../", "params.source"),
                       ("s3://someone-elses-bucket/", "params.source"), (f"file://{tmp_path}", "params.source")):
        r = submit(keys["admin"], {"collection": "wiki", "source": bad})
        assert r.status_code == 400 and r.json()["error"]["param"] == param, (bad, r.text)
        assert "jobs.ingest_sources" in r.json()["error"]["message"]
    r = submit(keys["admin"], {**ok, "shard": 2, "shards": 2})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_job_params", r.text
    r = submit(keys["admin"], {**ok, "unknown": 1})
    assert r.status_code == 400 and r.json()["error"]["param"] == "params.unknown", r.text
    r = submit(keys["admin"], {**ok, "source": str(source / "팀1")})
    assert r.status_code == 201, r.text
    assert r.json()["params"] == {**ok, "source": str(source / "팀1"), "sync": False, "options": {},
                                  "shard": 0, "shards": 1}


def test_allowed_source_resolves_paths_and_matches_uri_prefixes(tmp_path: Path) -> None:
    (tmp_path / "docs" / "a").mkdir(parents=True)
    (tmp_path / "secret").mkdir()
    (tmp_path / "docs" / "escape").symlink_to(tmp_path / "secret", target_is_directory=True)
    roots = [str(tmp_path / "docs"), "s3://company-docs/"]
    assert allowed_source(str(tmp_path / "docs" / "a"), roots)
    assert allowed_source(f"file://{tmp_path}/docs", roots)
    assert not allowed_source(str(tmp_path / "docs" / ".." / "secret"), roots)
    assert not allowed_source(str(tmp_path / "docs-other"), roots)
    assert allowed_source("s3://company-docs/handbook/", roots)
    assert not allowed_source("s3://company-docs-evil/", roots)
    assert not allowed_source(str(tmp_path / "docs"), ["s3://company-docs/"])
    assert not allowed_source(str(tmp_path / "docs" / "escape"), roots)  # a link out of the folder


def test_cli_ingest_jobs_queues_one_job_per_share(database_url: str, source: Path, tmp_path: Path) -> None:
    env = worker_env(database_url, tmp_path / "data")
    r = subprocess.run([*CLI, "ingest", "cli-col", str(source), "--create", "--jobs", "3", "--json",
                        "--tenant", "cli-t"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    import orjson

    ids = orjson.loads(r.stdout)["jobs"]
    assert len(ids) == 3
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT params->>'shard', params->>'shards', state, tenant_id FROM jobs "
                            "WHERE id = ANY(%s) ORDER BY params->>'shard'", (ids,)).fetchall()
    assert rows == [(str(k), "3", "queued", "cli-t") for k in range(3)]
