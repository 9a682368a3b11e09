"""The retrieval audit over HTTP on a real PostgreSQL with the real e5 embedder (the answer model
a fake OpenAI-compatible upstream): each retrieval and answer event names the masked query, the
collection, the caller's principals and the chunks returned and cited; an auditor finds who
retrieved a document and what a request saw, only within the tenant; deleting the document
leaves the ids and no text."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from tests.conftest import ADMIN_KEY
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

T = uuid.uuid4().hex[:6]
ACME, GLOBEX = f"acme{T}", f"globex{T}"
SECRET = "임원 연봉 협상 결과: 대표이사 연봉은 12억 원으로 결정되었다."
PUBLIC = "주간 회의록: 신규 채용 계획과 사무실 이전 일정을 논의했다."
PHONE = "010-2345-6789"
QUERY = f"대표이사 연봉 협상 결과 문의 {PHONE}"


@pytest.fixture(scope="module")
def env(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory
        ) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app

    tmp = tmp_path_factory.mktemp("raudit")
    settings = kn_gateway_settings(database_url, upstream[1], tmp)
    with serve_app(create_app(settings)) as base:
        api = Api(base)
        keys = {
            "admin": api.key(ADMIN_KEY, ACME, "admin", user="boss"),
            "hana": api.key(ADMIN_KEY, ACME, user="hana", groups=["hr"]),
            "bob": api.key(ADMIN_KEY, ACME, user="bob", groups=["eng"]),
            "auditor": api.key(ADMIN_KEY, ACME, "auditor", user="aud"),
            "other": api.key(ADMIN_KEY, GLOBEX, "auditor", user="eve"),
        }
        r = api.call("POST", "/v1/collections", keys["admin"], {"name": "wiki", "default_acl": ["*"]})
        assert r.status_code == 201, r.text  # type: ignore[attr-defined]
        r = api.call("POST", "/v1/collections/wiki/documents", keys["admin"], {"documents": [
            {"uri": "notes.txt", "text": PUBLIC, "title": "notes"},
            {"uri": "hr/salary.txt", "text": SECRET, "title": "salary", "acl": {"groups": ["hr"]}}]})
        assert r.status_code == 200 and r.json()["added"] == 2, r.text  # type: ignore[attr-defined]
        yield {"api": api, "keys": keys, "settings": settings, "tmp": tmp}


def _get(env: dict[str, Any], path: str, who: str = "auditor") -> dict[str, Any]:
    r = env["api"].call("GET", path, env["keys"][who])
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def retrieved(env: dict[str, Any]) -> dict[str, Any]:
    r = env["api"].call("POST", "/v1/retrieve", env["keys"]["hana"], {"collection": "wiki", "query": QUERY, "k": 5})
    assert r.status_code == 200, r.text
    body = r.json()
    secret = next(h for h in body["data"] if h["uri"] == "hr/salary.txt")
    return {"request_id": r.headers["x-request-id"], "hits": body["data"], "doc_id": secret["document_id"],
            "chunk_id": secret["chunk_id"]}


def test_event_records_masked_query_principals_and_ids(env: dict[str, Any], retrieved: dict[str, Any]) -> None:
    events = _get(env, "/v1/audit/events?action=api.retrieve&actor=hana")["data"]
    ev = next(e for e in events if e["request_id"] == retrieved["request_id"])
    rec = ev["detail"]["retrieval"]
    assert rec["collection"] == "wiki"
    assert PHONE not in rec["query"] and "[KR_PHONE]" in rec["query"] and "대표이사" in rec["query"]
    assert rec["principals"] == ["*", "user:hana", "group:hr"] and rec["role"] == "member"
    assert rec["returned"] == [{"document_id": h["document_id"], "chunk_id": h["chunk_id"]} for h in retrieved["hits"]]
    assert rec["cited"] == [h["chunk_id"] for h in retrieved["hits"]]
    assert SECRET not in orjson.dumps(ev).decode()


def test_who_retrieved_a_document(env: dict[str, Any], retrieved: dict[str, Any]) -> None:
    doc = retrieved["doc_id"]
    # bob may not read the secret: his retrieval does not name it.
    r = env["api"].call("POST", "/v1/retrieve", env["keys"]["bob"], {"collection": "wiki", "query": QUERY})
    assert r.status_code == 200 and all(h["document_id"] != doc for h in r.json()["data"])
    rows = _get(env, f"/v1/audit/documents/{doc}")["data"]
    assert [(e["user_id"], e["request_id"]) for e in rows] == [("hana", retrieved["request_id"])]
    assert rows[0]["chunk_ids"] == [retrieved["chunk_id"]] and rows[0]["cited_chunk_ids"] == [retrieved["chunk_id"]]
    assert rows[0]["collection"] == "wiki" and PHONE not in rows[0]["query"]
    # Another tenant's auditor sees nothing of it, a member may not ask, the platform auditor sees it.
    assert _get(env, f"/v1/audit/documents/{doc}", "other")["data"] == []
    assert env["api"].call("GET", f"/v1/audit/documents/{doc}", env["keys"]["hana"]).status_code == 403
    r = env["api"].call("GET", f"/v1/audit/documents/{doc}", ADMIN_KEY)
    assert r.status_code == 200 and [e["tenant_id"] for e in r.json()["data"]] == [ACME]


def test_paging_by_the_tenant_sequence(env: dict[str, Any], retrieved: dict[str, Any]) -> None:
    doc = retrieved["doc_id"]
    for _ in range(2):
        r = env["api"].call("POST", "/v1/retrieve", env["keys"]["hana"], {"collection": "wiki", "query": "연봉 협상"})
        assert r.status_code == 200 and any(h["document_id"] == doc for h in r.json()["data"])
    first = _get(env, f"/v1/audit/documents/{doc}?limit=2")
    assert len(first["data"]) == 2 and first["has_more"]
    rest = _get(env, f"/v1/audit/documents/{doc}?limit=2&after={first['data'][-1]['seq']}")
    assert len(rest["data"]) == 1 and rest["data"][0]["seq"] > first["data"][-1]["seq"]
    seqs = [e["seq"] for e in first["data"] + rest["data"]]
    # The tenant's own numbering: the events the tenant view lists under the same numbers.
    tenant_events = {e["seq"]: e["request_id"] for e in _get(env, "/v1/audit/events?limit=1000")["data"]}
    assert [tenant_events[s] for s in seqs] == [e["request_id"] for e in first["data"] + rest["data"]]


def test_what_an_answer_saw(env: dict[str, Any]) -> None:
    r = env["api"].call("POST", "/v1/answer", env["keys"]["hana"], {"collection": "wiki", "query": QUERY, "k": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["extractive"] is False
    rid = r.headers["x-request-id"]
    seen = _get(env, f"/v1/audit/requests/{rid}/documents")["data"]
    assert len(seen) == 1 and seen[0]["action"] == "api.answer" and seen[0]["user_id"] == "hana"
    cited = {c["chunk_id"] for d in seen[0]["documents"] for c in d["chunks"] if c["cited"]}
    assert cited == {c["chunk_id"] for c in body["citations"]}
    assert {d["document_id"] for d in seen[0]["documents"]} >= {c["document_id"] for c in body["citations"]}
    assert _get(env, f"/v1/audit/requests/{rid}/documents", "other")["data"] == []


def test_deleting_the_document_keeps_the_ids_not_the_text(env: dict[str, Any], retrieved: dict[str, Any]) -> None:
    from gureum.cli import app

    doc = retrieved["doc_id"]
    r = env["api"].call("DELETE", f"/v1/collections/wiki/documents/{doc}", env["keys"]["admin"])
    assert r.status_code in (200, 204), r.text
    rows = _get(env, f"/v1/audit/documents/{doc}")["data"]
    assert rows and rows[0]["request_id"] == retrieved["request_id"]
    assert SECRET not in orjson.dumps(rows).decode()
    settings = env["settings"]
    out = CliRunner().invoke(app, ["audit", "document", str(doc), "--tenant", ACME, "--json",
                                   "--data-dir", str(env["tmp"])], env={"GUREUM_DATABASE_URL": settings.database_url})
    assert out.exit_code == 0, out.output
    lines = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert [x["request_id"] for x in lines] == [e["request_id"] for e in rows]
    out = CliRunner().invoke(app, ["audit", "document", str(doc), "--tenant", GLOBEX,
                                   "--data-dir", str(env["tmp"])], env={"GUREUM_DATABASE_URL": settings.database_url})
    assert out.exit_code == 0 and "no retrieval of document" in out.output
