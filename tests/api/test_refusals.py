"""Refusals are authenticated first, audited like answers, and never keep what a client wrote raw:

- a request without a valid key is refused (401) before its body is read or validated;
- a refused body (400 malformed, 413 too large, 422 invalid) is an audit event of its caller;
- a model name the platform does not know is recorded only as its hash, an error never echoes
  PII back, and a request id carrying PII is replaced;
- content the model cannot read (an image for a text-only deployment, an unknown part type,
  malformed tools, empty or too many embedding inputs) is a clear 400/422 naming the parameter,
  never silently dropped;
- anonymous refusals reach the audit chain at a bounded rate, and the rest are counted.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import ADMIN_KEY, gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

RRN = "850505-1234561"  # a resident registration number with a valid checksum
ANON_PER_MINUTE = 3


@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app

    deployments = [
        {"name": "gpt-test", "provider": "fake", "model": "fake-model", "region": "us"},
        {"name": "text-only", "provider": "fake", "model": "small-model", "region": "us", "inputs": ["text"]},
        {"name": "emb-test", "provider": "fake", "model": "fake-embed", "kind": "embedding", "region": "us",
         "dimensions": 4},
    ]
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("refusals"),
                                deployments=deployments,
                                governance={"audit_anonymous_per_minute": ANON_PER_MINUTE})
    with serve_app(create_app(settings)) as base:
        yield base


def _post(base: str, path: str, body: Any = None, key: str | None = ADMIN_KEY, **headers: str) -> httpx.Response:
    rid = headers.pop("rid", "req_" + uuid.uuid4().hex)
    hdrs = {"x-request-id": rid, **headers}
    if key:
        hdrs["authorization"] = f"Bearer {key}"
    kw: dict[str, Any] = {"content": body} if isinstance(body, bytes) else {"json": body}
    return httpx.post(f"{base}{path}", headers=hdrs, timeout=30, **kw)


def _audit(database_url: str, rid: str) -> tuple[Any, ...] | None:
    with psycopg.connect(database_url) as conn:
        return conn.execute("SELECT action, decision, status, resource, detail FROM audit_events WHERE request_id = %s",
                            (rid,)).fetchone()


def test_anonymous_requests_are_refused_before_their_body_is_read(gw: str) -> None:
    for body in (b"{not json", b'{"model": 1}', b"x" * 100):
        r = _post(gw, "/v1/chat/completions", body, key=None, **{"content-type": "application/json"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "missing_api_key", r.text
    # A body declared far past the limit is not refused as too large: it is never looked at.
    host, port = gw.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer gk-wrong\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{}")
        assert sock.recv(200).startswith(b"HTTP/1.1 401")


@pytest.mark.parametrize("body,status", [(b"{not json", 400), (b'{"model": "gpt-test"}', 422)])
def test_refused_bodies_are_audited(gw: str, database_url: str, body: bytes, status: int) -> None:
    rid = "req_" + uuid.uuid4().hex
    r = _post(gw, "/v1/chat/completions", body, rid=rid, **{"content-type": "application/json"})
    assert r.status_code == status and r.headers["x-request-id"] == rid, r.text
    row = _audit(database_url, rid)
    assert row is not None and row[0] == "api.chat" and row[1] == "error" and row[2] == status


def test_an_oversized_body_is_an_audited_413(gw: str, database_url: str) -> None:
    rid = "req_" + uuid.uuid4().hex
    big = b'{"model": "gpt-test", "input": "' + b"a" * (9 * 1024 * 1024) + b'"}'
    r = _post(gw, "/v1/embeddings", big, rid=rid, **{"content-type": "application/json"})
    assert r.status_code == 413
    row = _audit(database_url, rid)
    assert row is not None and row[0] == "api.embeddings" and row[2] == 413


def test_pii_in_the_model_name_is_neither_echoed_nor_stored(gw: str, database_url: str) -> None:
    rid = "req_" + uuid.uuid4().hex
    r = _post(gw, "/v1/chat/completions", {"model": RRN, "messages": [{"role": "user", "content": "x"}]}, rid=rid)
    assert r.status_code == 404 and RRN not in r.text and "[KR_RRN]" in r.json()["error"]["message"]
    action, _, status, resource, detail = _audit(database_url, rid) or ()
    assert status == 404 and RRN not in str(resource) and RRN not in str(detail)
    assert str(resource).startswith("model:unknown:")
    with psycopg.connect(database_url) as conn:
        models = [m for (m,) in conn.execute("SELECT model FROM ledger WHERE request_id = %s", (rid,))]
    assert models and all(m.startswith("unknown:") for m in models)
    # the same for a rag/ name of no collection
    r = _post(gw, "/v1/chat/completions", {"model": f"rag/{RRN}", "messages": [{"role": "user", "content": "x"}]})
    assert r.status_code == 404 and RRN not in r.text
    # A known model is recorded by its name.
    rid = "req_" + uuid.uuid4().hex
    assert _post(gw, "/v1/chat/completions", {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]},
                 rid=rid).status_code == 200
    assert (_audit(database_url, rid) or ())[3] == "model:gpt-test"


def test_a_request_id_with_pii_is_replaced(gw: str) -> None:
    r = _post(gw, "/v1/chat/completions", {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}]},
              rid=f"rrn-{RRN}")
    assert r.status_code == 200 and RRN not in r.headers["x-request-id"]


@pytest.mark.parametrize("path,body,status,param", [
    ("/v1/embeddings", {"model": "emb-test", "input": ["ok", ""]}, 422, "input"),
    ("/v1/embeddings", {"model": "emb-test", "input": ""}, 422, "input"),
    ("/v1/embeddings", {"model": "emb-test", "input": ["a"] * 2049}, 422, "input"),
    ("/v1/chat/completions", {"model": "gpt-test", "messages": [{"role": "user", "content": [{"type": "video"}]}]},
     422, "messages.0.content"),
    ("/v1/chat/completions", {"model": "gpt-test", "messages": [{"role": "user", "content": "x"}],
                              "tools": [{"type": "function", "function": {"description": "no name"}}]},
     422, "tools.0.function.name"),
    ("/v1/chat/completions", {"model": "text-only", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]},
     400, "messages"),
])
def test_content_a_model_cannot_use_is_refused(gw: str, upstream: tuple[FakeOpenAI, str], path: str,
                                               body: dict[str, Any], status: int, param: str) -> None:
    n = len(upstream[0].requests)
    r = _post(gw, path, body)
    assert r.status_code == status and r.json()["error"]["param"] == param, r.text
    assert len(upstream[0].requests) == n  # nothing was sent
    # The same image goes to a deployment that reads images.
    if param == "messages":
        assert _post(gw, path, {**body, "model": "gpt-test"}).status_code == 200


def test_anonymous_refusals_reach_the_chain_at_a_bounded_rate(gw: str, database_url: str) -> None:
    marker = uuid.uuid4().hex[:8]
    for i in range(ANON_PER_MINUTE + 5):
        r = _post(gw, "/v1/chat/completions", {}, key="gk-not-a-key", rid=f"anon-{marker}-{i}")
        assert r.status_code == 401
    with psycopg.connect(database_url) as conn:
        (n,) = conn.execute("SELECT count(*) FROM audit_events WHERE request_id LIKE %s", (f"anon-{marker}-%",)).fetchone()
    assert n <= ANON_PER_MINUTE


def test_the_anonymous_counter_writes_what_it_counted_once_the_minute_is_over() -> None:
    from gureum.flow.stages.audit import AnonymousRefusals

    now = [0.0]
    gate = AnonymousRefusals(2, clock=lambda: now[0])
    assert [gate.admit() for _ in range(5)] == [(True, 0), (True, 0), (False, 0), (False, 0), (False, 0)]
    now[0] = 61.0
    assert gate.admit() == (True, 3)  # written, and the three counted before are written as one event
    assert gate.admit() == (True, 0)
    assert gate.admit() == (False, 0)


@pytest.mark.parametrize("path", ["/v1/audit/events?after=99999999999999999999", "/v1/audit/events?after=-1",
                                  "/v1/collections/x/documents/99999999999999999999",
                                  "/v1/collections/x/documents?limit=0"])
def test_numbers_out_of_range_are_422(gw: str, path: str) -> None:
    r = httpx.get(f"{gw}{path}", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
    assert r.status_code == 422 and set(r.json()["error"]) == {"message", "type", "param", "code"}, r.text


def test_listing_models_is_audited(gw: str, database_url: str) -> None:
    rid = "req_" + uuid.uuid4().hex
    r = httpx.get(f"{gw}/v1/models", headers={"authorization": f"Bearer {ADMIN_KEY}", "x-request-id": rid}, timeout=30)
    assert r.status_code == 200
    row = _audit(database_url, rid)
    assert row is not None and row[0] == "api.models" and row[1] == "allow"
    rid = "req_" + uuid.uuid4().hex
    r = httpx.get(f"{gw}/v1/models/{RRN}", headers={"authorization": f"Bearer {ADMIN_KEY}", "x-request-id": rid},
                  timeout=30)
    assert r.status_code == 404 and RRN not in r.text
    row = _audit(database_url, rid)
    assert row is not None and row[3] == "model:unknown" and RRN not in str(row)
