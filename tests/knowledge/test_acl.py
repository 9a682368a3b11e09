"""Every way a chunk the caller may not read could show up — retrieve results, scores and
counts, citations, rag/ chat answers (plain and streamed), the prompt sent upstream, document
lookups and errors, another tenant — and an ACL change taking effect at once.

Runs a real gureum over HTTP on a real PostgreSQL with the real e5 embedder; the chat model is
a fake OpenAI-compatible upstream that records what it was sent.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import psycopg
import pytest

from tests.conftest import ADMIN_KEY
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

SECRET = "임원 연봉 협상 결과: 대표이사 연봉은 12억 원으로 결정되었다. 회의록 비공개."
PUBLIC = [
    ("notes-1.txt", "3월 주간 회의록: 신규 채용 계획과 사무실 이전 일정을 논의했다. 연봉 테이블 검토는 다음 회의로 미뤘다."),
    ("notes-2.txt", "4월 주간 회의록: 협상 중인 고객 계약의 결과를 공유했다. 결정 사항은 다음 주에 공지한다."),
    ("notes-3.txt", "5월 주간 회의록: 대표이사가 분기 실적을 발표했다. 연봉 인상률은 인사팀이 결정한다."),
    ("notes-4.txt", "6월 주간 회의록: 보안 교육 일정과 사내 시스템 점검 결과를 공유했다."),
    ("notes-5.txt", "7월 주간 회의록: 여름 휴가 일정 조율과 협력사 협상 진행 상황을 논의했다."),
    ("notes-6.txt", "8월 주간 회의록: 하반기 예산 결정과 신규 프로젝트 착수를 의결했다."),
]
QUERY = "대표이사 연봉 협상 결과 회의록"


@pytest.fixture(scope="module", params=["exact", "shared", "own_indexes"])
def env(request: pytest.FixtureRequest, database_url: str, upstream: tuple[FakeOpenAI, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The whole suite runs under each dense plan, forced by the plan's thresholds: exact
    scoring, a filtered walk of the collection's index, and one HNSW index per ACL set (what a
    large collection has)."""
    from gureum.app import create_app
    from gureum.knowledge.index import dense, set_indexes

    fake, url = upstream
    mode = request.param
    settings = kn_gateway_settings(database_url, url, tmp_path_factory.mktemp("acl"))
    with pytest.MonkeyPatch.context() as patch, serve_app(create_app(settings)) as base:
        if mode == "exact":
            patch.setattr(dense, "EXACT_SHARE", 1.0)
        else:
            patch.setattr(dense, "EXACT_MAX", 0)
        if mode == "own_indexes":
            patch.setattr(set_indexes, "OWN_INDEX_MIN", 1)
        api = Api(base)
        keys = {
            "admin": api.key(ADMIN_KEY, f"acme-{mode}", "admin", user="root-of-acme"),
            "bob": api.key(ADMIN_KEY, f"acme-{mode}", user="bob", groups=["eng"]),
            "hana": api.key(ADMIN_KEY, f"acme-{mode}", user="hana", groups=["hr"]),
            "other": api.key(ADMIN_KEY, f"globex-{mode}", "admin", user="eve"),
        }
        r = api.call("POST", "/v1/collections", keys["admin"], {"name": "wiki", "default_acl": ["*"]})
        assert r.status_code == 201, r.text  # type: ignore[attr-defined]
        docs = [{"uri": u, "text": t, "title": u} for u, t in PUBLIC]
        r = api.call("POST", "/v1/collections/wiki/documents", keys["admin"], {"documents": docs})
        assert r.status_code == 200 and r.json()["added"] == 6, r.text  # type: ignore[attr-defined]
        wait_indexed(api, keys["admin"], r.json())  # type: ignore[attr-defined]
        yield {"api": api, "keys": keys, "fake": fake, "base": base, "mode": mode, "database_url": database_url}


def wait_indexed(api: Api, key: str, report: dict[str, Any]) -> None:
    """An upload hands the own-index builds it calls for to a `set-indexes` job that the server runs;
    wait for it (its admin can read it)."""
    if report["index_job"] is None:
        return
    deadline = time.monotonic() + 60
    while (job := api.call("GET", f"/v1/jobs/{report['index_job']}", key).json())["state"] != "succeeded":  # type: ignore[attr-defined]
        assert job["state"] in ("queued", "running") and time.monotonic() < deadline, job
        time.sleep(0.1)


def _plan(env: dict[str, Any], principals: list[str]) -> Any:
    """The dense plan these principals get on this run's collection (the thresholds patched)."""
    from gureum.knowledge import collections, index
    from gureum.store import open_store

    async def plan() -> Any:
        store = await open_store(Path("."), env["database_url"], pool_size=1, migrate=False)
        try:
            col = await collections.get(store.engine, f"acme-{env['mode']}", "wiki")
            return await index.dense_plan(store.engine, collections.scope(col, principals))
        finally:
            await store.close()

    return asyncio.run(plan())


def _own_indexes(env: dict[str, Any]) -> int:
    """Valid own indexes of the ACL sets of this run's collection."""
    with psycopg.connect(env["database_url"]) as conn:
        row = conn.execute(
            "SELECT count(*) FROM acl_sets s JOIN collections col ON col.id = s.collection_id "
            "JOIN pg_class c ON c.relname = 'chunks_hnsw_set_' || s.id JOIN pg_index i ON i.indexrelid = c.oid "
            "WHERE col.tenant_id = %s AND i.indisvalid", (f"acme-{env['mode']}",)).fetchone()
    return int(row[0]) if row else 0


def _retrieve(env: dict[str, Any], who: str, k: int = 5) -> dict[str, Any]:
    r = env["api"].call("POST", "/v1/retrieve", env["keys"][who], {"collection": "wiki", "query": QUERY, "k": k})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def secret(env: dict[str, Any]) -> dict[str, Any]:
    """Scores bob saw before the secret existed, then the secret document (group hr only)."""
    before = _retrieve(env, "bob")
    r = env["api"].call("POST", "/v1/collections/wiki/documents", env["keys"]["admin"], {"documents": [
        {"uri": "hr/salary.txt", "text": SECRET, "title": "임원 연봉 협상", "acl": {"groups": ["hr"]}}]})
    assert r.status_code == 200 and r.json()["added"] == 1, r.text
    assert (r.json()["index_job"] is not None) == (env["mode"] == "own_indexes")
    wait_indexed(env["api"], env["keys"]["admin"], r.json())
    hana = _retrieve(env, "hana")
    doc_id = next(h["document_id"] for h in hana["data"] if h["uri"] == "hr/salary.txt")
    # The public set and the secret's set each have their own index in that mode, none in the others,
    # and hana's searches take the mode's plan.
    assert _own_indexes(env) == (2 if env["mode"] == "own_indexes" else 0)
    part = {"exact": "exact", "shared": "shared", "own_indexes": "own"}[env["mode"]]
    assert getattr(_plan(env, ["*", "group:hr", "user:hana"]), part)
    return {"before": before, "doc_id": doc_id}


def test_owner_group_finds_it(env: dict[str, Any], secret: dict[str, Any]) -> None:
    hana = _retrieve(env, "hana")
    assert hana["data"][0]["uri"] == "hr/salary.txt"


def test_results_stay_full_and_scores_do_not_move(env: dict[str, Any], secret: dict[str, Any]) -> None:
    after = _retrieve(env, "bob")
    assert len(after["data"]) == 5  # top-k filled from readable chunks, not filtered afterwards
    assert all(h["uri"] != "hr/salary.txt" for h in after["data"])
    assert all("12억" not in c["text"] for c in after["citations"])
    # BM25 statistics come from what bob may read: the secret changes nothing he can observe.
    assert [(h["uri"], h["score"], h["scores"]) for h in after["data"]] == \
        [(h["uri"], h["score"], h["scores"]) for h in secret["before"]["data"]]


def test_document_lookups_and_errors_look_missing(env: dict[str, Any], secret: dict[str, Any]) -> None:
    api, keys = env["api"], env["keys"]
    forbidden = api.call("GET", f"/v1/collections/wiki/documents/{secret['doc_id']}", keys["bob"])
    missing = api.call("GET", "/v1/collections/wiki/documents/987654321", keys["bob"])
    assert forbidden.status_code == missing.status_code == 404
    fb, mb = forbidden.json()["error"], missing.json()["error"]
    assert (fb["type"], fb["code"], fb["param"]) == (mb["type"], mb["code"], mb["param"])
    assert fb["message"].replace(str(secret["doc_id"]), "N") == mb["message"].replace("987654321", "N")
    listed = api.call("GET", "/v1/collections/wiki/documents", keys["bob"]).json()["data"]
    assert {d["uri"] for d in listed} == {u for u, _ in PUBLIC}
    assert api.call("GET", f"/v1/collections/wiki/documents/{secret['doc_id']}", keys["hana"]).status_code == 200
    # Members cannot change ACLs or delete.
    r = api.call("PUT", f"/v1/collections/wiki/documents/{secret['doc_id']}/acl", keys["bob"], {"groups": ["eng"]})
    assert r.status_code == 403


def test_rag_chat_and_stream_never_carry_it(env: dict[str, Any], secret: dict[str, Any]) -> None:
    fake: FakeOpenAI = env["fake"]
    client = openai.OpenAI(base_url=f"{env['base']}/v1", api_key=env["keys"]["bob"], max_retries=0)
    n = len(fake.requests)
    out = client.chat.completions.create(model="rag/wiki", messages=[{"role": "user", "content": QUERY}])
    raw = out.model_dump()
    assert raw["citations"] and all(c["uri"] != "hr/salary.txt" for c in raw["citations"])
    sent = str(fake.requests[n:])
    assert "12억" not in sent and "notes-" in sent or "회의록" in sent
    chunks = list(client.chat.completions.create(model="rag/wiki", messages=[{"role": "user", "content": QUERY}],
                                                 stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    cites = [c for ch in chunks for c in (ch.model_dump().get("citations") or [])]
    assert cites and all(c["uri"] != "hr/salary.txt" for c in cites)
    assert "12억" not in streamed and "salary" not in streamed
    assert "12억" not in str(fake.requests[n:])
    # hana's answer is grounded in the secret.
    hana = openai.OpenAI(base_url=f"{env['base']}/v1", api_key=env["keys"]["hana"], max_retries=0)
    raw = hana.chat.completions.create(model="rag/wiki", messages=[{"role": "user", "content": QUERY}]).model_dump()
    assert raw["citations"][0]["uri"] == "hr/salary.txt"
    assert "12억" in str(fake.requests[-1])


def test_acl_change_takes_effect_at_once(env: dict[str, Any], secret: dict[str, Any]) -> None:
    api, keys = env["api"], env["keys"]
    path = f"/v1/collections/wiki/documents/{secret['doc_id']}/acl"
    r = api.call("PUT", path, keys["admin"], {"groups": ["hr", "eng"]})
    assert r.status_code == 200 and sorted(r.json()["acl"]) == ["group:eng", "group:hr"], r.text
    assert _retrieve(env, "bob")["data"][0]["uri"] == "hr/salary.txt"
    assert api.call("GET", f"/v1/collections/wiki/documents/{secret['doc_id']}", keys["bob"]).status_code == 200
    r = api.call("PUT", path, keys["admin"], {"groups": ["hr"]})
    assert r.status_code == 200
    after = _retrieve(env, "bob")
    assert all(h["uri"] != "hr/salary.txt" for h in after["data"])
    assert [(h["uri"], h["score"]) for h in after["data"]] == [(h["uri"], h["score"]) for h in secret["before"]["data"]]


def test_another_tenant_sees_nothing(env: dict[str, Any], secret: dict[str, Any]) -> None:
    api, keys = env["api"], env["keys"]
    r = api.call("POST", "/v1/retrieve", keys["other"], {"collection": "wiki", "query": QUERY})
    missing = api.call("POST", "/v1/retrieve", keys["other"], {"collection": "nope", "query": QUERY})
    assert r.status_code == missing.status_code == 404
    assert r.json()["error"]["code"] == missing.json()["error"]["code"]
    assert api.call("GET", "/v1/collections", keys["other"]).json()["data"] == []
    assert api.call("GET", f"/v1/collections/wiki/documents/{secret['doc_id']}", keys["other"]).status_code == 404
    assert api.call("DELETE", f"/v1/collections/wiki/documents/{secret['doc_id']}", keys["other"]).status_code == 404
    client = openai.OpenAI(base_url=f"{env['base']}/v1", api_key=keys["other"], max_retries=0)
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="rag/wiki", messages=[{"role": "user", "content": QUERY}])


def test_retrieval_is_audited_with_documents(env: dict[str, Any], secret: dict[str, Any]) -> None:
    _retrieve(env, "hana")
    r = env["api"].call("GET", "/v1/audit/events?action=api.retrieve&limit=1000", ADMIN_KEY)
    assert r.status_code == 200, r.text
    events = r.json()["data"]
    assert events and any(f"document:wiki/{secret['doc_id']}" in (e["detail"].get("resources") or []) for e in events)
    _retrieve(env, "bob")
    r = env["api"].call("GET", "/v1/audit/events?action=api.retrieve&limit=1000", ADMIN_KEY)
    last_bob = max((e for e in r.json()["data"] if e["user_id"] == "bob"), key=lambda e: e["seq"])
    assert last_bob["detail"]["resources"][0] == "collection:wiki"
    assert f"document:wiki/{secret['doc_id']}" not in last_bob["detail"]["resources"]
