"""Reranking through the running server: a catalog model of kind `rerank` reorders the fused hits
of /v1/retrieve, /v1/answer and `rag/` chats, under the same governance as an answer model (ACL,
residency, the collection's PII policy), billed on its own ledger row, and falling back to the
fused order — saying why — when it fails.

Real PostgreSQL and the real e5 embedder; the reranker is the fake upstream's `/v1/rerank`, whose
scores favour documents containing `fake.favour` and otherwise reverse the order it was sent, so
a reranked order is always told apart from the fused one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import psycopg
import pytest

from tests.conftest import ADMIN_KEY
from tests.knowledge.conftest import Api, kn_gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

QUERY = "연차 휴가는 며칠인가요?"
SECRET_WORD = "징계위원회"
DOCS = [
    {"uri": "leave.md", "title": "휴가 규정", "text": "# 연차\n\n연차 휴가는 입사 1년 후 15일이 주어진다. 미사용 연차는 다음 해로 이월되지 않는다."},
    {"uri": "travel.md", "title": "출장 규정", "text": "# 출장비\n\n출장비 정산은 출장 종료 후 14일 이내에 전자결재로 신청한다."},
    {"uri": "security.md", "title": "Security policy", "text": "# VPN\n\nThe VPN must be used on public Wi-Fi. Passwords rotate every 90 days."},
    {"uri": "contact.md", "title": "문의", "text": "# 휴가 문의\n\n연차 휴가 신청 문의는 인사팀 대표번호 010-2345-6789 로 한다."},
    {"uri": "discipline.md", "title": "징계", "acl": {"groups": ["hr"]},
     "text": f"# 부정 사용\n\n연차 휴가를 부정하게 사용한 직원은 {SECRET_WORD}에 회부된다."},
]
PHONE = "010-2345-6789"


def _rerank_deployment(name: str, region: str) -> dict[str, Any]:
    return {"name": name, "provider": "fake", "model": f"fake-{name}", "kind": "rerank", "region": region,
            "timeout": 1, "price": {"input": 2.0}}


@pytest.fixture(scope="module")
def env(database_url: str, upstream: tuple[FakeOpenAI, str],
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from gureum.app import create_app
    from gureum.config import DeploymentSettings

    fake, url = upstream
    # No retries: each scripted failure is one failed call, and never enough to open the breaker.
    base = kn_gateway_settings(database_url, url, tmp_path_factory.mktemp("rerank"), routing={"retries": 0})
    rerankers = [DeploymentSettings(**_rerank_deployment("rerank-us", "us")),
                 DeploymentSettings(**_rerank_deployment("rerank-kr", "kr"))]
    settings = base.model_copy(update={"deployments": [*base.deployments, *rerankers]})
    with serve_app(create_app(settings)) as url_:
        api = Api(url_)
        keys = {
            "admin": api.key(ADMIN_KEY, "rr", "admin", user="admin"),
            "kim": api.key(ADMIN_KEY, "rr", user="kim"),
            "hana": api.key(ADMIN_KEY, "rr", user="hana", groups=["hr"]),
        }
        env = {"api": api, "keys": keys, "fake": fake, "base": url_}
        _collection(env, "plain")
        _collection(env, "handbook", reranker="rerank-us")
        yield env


def _collection(env: dict[str, Any], name: str, **settings: Any) -> dict[str, Any]:
    api, admin = env["api"], env["keys"]["admin"]
    r = api.call("POST", "/v1/collections", admin, {"name": name, **settings})
    assert r.status_code == 201, r.text
    r = api.call("POST", f"/v1/collections/{name}/documents", admin, {"documents": DOCS})
    assert r.status_code == 200 and r.json()["added"] == len(DOCS), r.text
    return r.json()  # type: ignore[no-any-return]


def _retrieve(env: dict[str, Any], collection: str, who: str = "kim", query: str = QUERY,
              **options: Any) -> dict[str, Any]:
    r = env["api"].call("POST", "/v1/retrieve", env["keys"][who], {"collection": collection, "query": query, **options})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def _uris(body: dict[str, Any]) -> list[str]:
    return [h["uri"] for h in body["data"]]


def _reranks(fake: FakeOpenAI, since: int) -> list[dict[str, Any]]:
    """The rerank requests the fake received since request number `since`."""
    return [b for b in fake.requests[since:] if "documents" in b]


@pytest.fixture(autouse=True)
def _neutral(env: dict[str, Any]) -> None:
    env["fake"].favour = None
    env["fake"].actions.clear()


def test_reranker_reorders_and_reports_its_scores(env: dict[str, Any]) -> None:
    fake: FakeOpenAI = env["fake"]
    fused = _retrieve(env, "plain")
    assert _uris(fused)[0] == "leave.md" and fused["rerank"] is None
    assert all(h["rerank_score"] is None for h in fused["data"])
    fake.favour = "VPN"
    n = len(fake.requests)
    body = _retrieve(env, "plain", reranker="rerank-us")  # asked for per call
    # The fake puts the VPN document first and reverses the rest of what it was sent.
    assert _uris(body) == ["security.md", *[u for u in reversed(_uris(fused)) if u != "security.md"]]
    scores = [h["rerank_score"] for h in body["data"]]
    assert all(s is not None for s in scores) and scores == sorted(scores, reverse=True)
    assert {h["uri"]: h["score"] for h in body["data"]} == {h["uri"]: h["score"] for h in fused["data"]}  # fused kept
    assert body["rerank"] == {"model": "rerank-us", "candidates": len(fused["data"]), "scored": len(fused["data"])}
    (sent,) = _reranks(fake, n)
    assert sent["model"] == "fake-rerank-us" and sent["query"] == QUERY
    assert len(sent["documents"]) == len(fused["data"]) and sent["documents"][0] == fused["data"][0]["text"]


def test_collection_reranker_and_candidate_count(env: dict[str, Any]) -> None:
    fake: FakeOpenAI = env["fake"]
    fake.favour = "VPN"
    assert _uris(_retrieve(env, "handbook"))[0] == "security.md"
    fake.favour = None
    _collection(env, "narrow", reranker="rerank-us", rerank_candidates=2)
    got = env["api"].call("GET", "/v1/collections/narrow", env["keys"]["kim"]).json()
    assert got["reranker"] == "rerank-us" and got["rerank_candidates"] == 2
    fused = _uris(_retrieve(env, "plain"))
    n = len(fake.requests)
    body = _retrieve(env, "narrow", k=4)
    (sent,) = _reranks(fake, n)
    assert len(sent["documents"]) == 2 and body["rerank"]["candidates"] == 2
    # The two candidates swap (reversed); the hits beyond them follow in fused order, unscored.
    assert _uris(body) == [fused[1], fused[0], *fused[2:4]]
    assert [h["rerank_score"] is None for h in body["data"]] == [False, False, True, True]


def test_forbidden_chunks_never_reach_the_reranker(env: dict[str, Any]) -> None:
    fake: FakeOpenAI = env["fake"]
    n = len(fake.requests)
    kim = _retrieve(env, "handbook", "kim")
    assert "discipline.md" not in _uris(kim)
    assert not any(SECRET_WORD in d for b in _reranks(fake, n) for d in b["documents"])
    n = len(fake.requests)
    hana = _retrieve(env, "handbook", "hana")  # hr may read it: then, and only then, it is sent
    assert "discipline.md" in _uris(hana)
    assert any(SECRET_WORD in d for b in _reranks(fake, n) for d in b["documents"])


@pytest.mark.parametrize("policy", ["mask", "exclude", "allow"])
def test_pii_policy_applies_to_what_the_reranker_is_sent(env: dict[str, Any], policy: str) -> None:
    fake: FakeOpenAI = env["fake"]
    _collection(env, f"pii-{policy}", reranker="rerank-us", pii_policy=policy)  # rerank-us is external (us)
    query = f"휴가 신청 문의 {PHONE} 번호"
    n = len(fake.requests)
    body = _retrieve(env, f"pii-{policy}", query=query)
    (sent,) = _reranks(fake, n)
    contact = next(h for h in body["data"] if h["uri"] == "contact.md")
    assert "KR_PHONE" in contact["pii_types"]
    if policy == "allow":
        # The collection lets its PII go; the tenant's own rule for region `us` (mask) still applies
        # in the rerank sub-call's guard, as it does to an answer's prompt: a placeholder, never the value.
        assert PHONE not in sent["query"] and "<KR_PHONE_1>" in sent["query"]
        assert not any(PHONE in d for d in sent["documents"]) and any("<KR_PHONE" in d for d in sent["documents"])
        return
    assert PHONE not in sent["query"] and "[KR_PHONE]" in sent["query"]
    assert not any(PHONE in d for d in sent["documents"])
    if policy == "mask":
        assert any("인사팀" in d and "[KR_PHONE]" in d for d in sent["documents"])
        assert contact["rerank_score"] is not None
    else:  # excluded from the reranker, still found: it keeps its fused place, unscored
        assert not any("인사팀" in d for d in sent["documents"])
        assert contact["rerank_score"] is None and len(sent["documents"]) == len(body["data"]) - 1


def test_a_failing_reranker_leaves_the_fused_order(env: dict[str, Any]) -> None:
    fake: FakeOpenAI = env["fake"]
    fused = _uris(_retrieve(env, "plain"))
    fake.script("error:500")
    body = _retrieve(env, "handbook")
    assert _uris(body) == fused and all(h["rerank_score"] is None for h in body["data"])
    assert body["rerank"]["model"] == "rerank-us" and body["rerank"]["error"]["code"] == "bad_gateway"
    fake.script("hang")  # past the deployment's 1 s timeout
    body = _retrieve(env, "handbook")
    assert _uris(body) == fused and body["rerank"]["error"]["code"] == "upstream_timeout"
    fake.script("error:500")
    r = env["api"].call("POST", "/v1/answer", env["keys"]["kim"], {"collection": "handbook", "query": QUERY})
    assert r.status_code == 200, r.text
    answer = r.json()
    assert answer["rerank"]["error"]["code"] == "bad_gateway" and answer["citations"][0]["uri"] == fused[0]


def test_residency_applies_to_the_reranker(env: dict[str, Any]) -> None:
    fake: FakeOpenAI = env["fake"]
    _collection(env, "seoul", reranker="rerank-us", residency="kr-only")
    n = len(fake.requests)
    body = _retrieve(env, "seoul")
    assert body["rerank"]["error"]["code"] == "residency_blocked" and "kr-only" in body["rerank"]["error"]["message"]
    assert _reranks(fake, n) == []  # nothing left for the US
    body = _retrieve(env, "seoul", reranker="rerank-kr")
    assert "error" not in body["rerank"] and len(_reranks(fake, n)) == 1


def test_answers_follow_the_reranked_order(env: dict[str, Any]) -> None:
    fake: FakeOpenAI = env["fake"]
    fake.favour = "VPN"
    client = openai.OpenAI(base_url=f"{env['base']}/v1", api_key=env["keys"]["kim"], max_retries=0)
    n = len(fake.requests)
    out = client.chat.completions.create(model="rag/handbook", messages=[{"role": "user", "content": QUERY}])
    raw = out.model_dump()
    assert raw["citations"][0]["uri"] == "security.md" and raw["rerank"]["model"] == "rerank-us"
    chat = next(b for b in fake.requests[n:] if "messages" in b)
    assert "[1] Security policy > VPN" in chat["messages"][-1]["content"]
    r = env["api"].call("POST", "/v1/answer", env["keys"]["kim"], {"collection": "plain", "query": QUERY,
                                                                   "reranker": "rerank-us"})
    assert r.status_code == 200, r.text
    assert r.json()["citations"][0]["uri"] == "security.md" and "error" not in r.json()["rerank"]
    assert "reranker" not in fake.requests[-1]  # a retrieval option, not a chat parameter


def test_reranker_usage_has_its_own_ledger_row(env: dict[str, Any], database_url: str) -> None:
    rid = "req_" + uuid.uuid4().hex
    r = httpx.post(f"{env['base']}/v1/retrieve", json={"collection": "handbook", "query": QUERY}, timeout=60,
                   headers={"authorization": f"Bearer {env['keys']['kim']}", "x-request-id": rid})
    assert r.status_code == 200, r.text
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT model, deployment, input_tokens, cost, endpoint, parent_id FROM ledger "
                           "WHERE request_id = %s", (f"{rid}:rerank",)).fetchone()
        audit = conn.execute("SELECT action, detail FROM audit_events WHERE request_id = %s",
                             (f"{rid}:rerank",)).fetchone()
        parent = conn.execute("SELECT detail FROM audit_events WHERE request_id = %s", (rid,)).fetchone()
    assert row is not None and audit is not None and parent is not None
    model, deployment, tokens, cost, endpoint, parent_id = row
    assert (model, deployment) == ("rerank-us", "rerank-us@fake") and tokens > 0 and cost > 0
    assert (endpoint, parent_id) == ("rerank", rid)
    assert audit[0] == "api.rerank" and audit[1]["parent"] == rid and audit[1]["deployment"] == "rerank-us@fake"
    assert parent[0]["rerank"]["request_id"] == f"{rid}:rerank"


def test_reranker_settings_are_validated(env: dict[str, Any]) -> None:
    api, admin, kim = env["api"], env["keys"]["admin"], env["keys"]["kim"]
    for wrong in ("gpt-test", "no-such-model"):  # a chat model is not a reranker
        r = api.call("POST", "/v1/collections", admin, {"name": "bad", "reranker": wrong})
        assert r.status_code == 400 and r.json()["error"]["param"] == "reranker", r.text
        assert "rerank-kr, rerank-us" in r.json()["error"]["message"]
    for n in (0, 101):
        r = api.call("POST", "/v1/collections", admin, {"name": "bad", "reranker": "rerank-us", "rerank_candidates": n})
        assert r.status_code == 422 and r.json()["error"]["param"] == "rerank_candidates", r.text
    r = api.call("POST", "/v1/retrieve", kim, {"collection": "plain", "query": QUERY, "reranker": "gpt-test"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "reranker", r.text
    assert api.call("GET", "/v1/collections/bad", admin).status_code == 404


def test_reranker_settings_change_with_patch(env: dict[str, Any]) -> None:
    api, admin = env["api"], env["keys"]["admin"]
    fake: FakeOpenAI = env["fake"]
    _collection(env, "patched")
    r = api.call("PATCH", "/v1/collections/patched", admin, {"reranker": "rerank-us", "rerank_candidates": 3})
    assert r.status_code == 200 and (r.json()["reranker"], r.json()["rerank_candidates"]) == ("rerank-us", 3), r.text
    n = len(fake.requests)
    assert _retrieve(env, "patched")["rerank"]["candidates"] == 3
    assert len(_reranks(fake, n)) == 1
    r = api.call("PATCH", "/v1/collections/patched", admin, {"description": "kept", "rerank_candidates": 5})
    assert (r.json()["reranker"], r.json()["rerank_candidates"], r.json()["description"]) == ("rerank-us", 5, "kept")
    r = api.call("PATCH", "/v1/collections/patched", admin, {"reranker": "gpt-test"})
    assert r.status_code == 400 and r.json()["error"]["param"] == "reranker", r.text
    r = api.call("PATCH", "/v1/collections/patched", admin, {"reranker": None})
    assert r.status_code == 200 and r.json()["reranker"] is None
    n = len(fake.requests)
    assert _retrieve(env, "patched")["rerank"] is None and _reranks(fake, n) == []
