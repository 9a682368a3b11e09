"""The exact cache through a running gureum: repeats are answered without calling the upstream,
recorded in the ledger as free with what they saved, replayed as streams, normalised, shared
across replicas (PostgreSQL, and Redis when configured), and never used where the policy says no."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import psycopg
import pytest

from tests.conftest import ADMIN_KEY, gateway_settings
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app


def ask(base: str, content: Any = "hi", *, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    payload = {"model": "gpt-test", "messages": [{"role": "user", "content": content}], "temperature": 0, **body}
    rid = "req_" + uuid.uuid4().hex
    h = {"authorization": f"Bearer {ADMIN_KEY}", "x-request-id": rid, **(headers or {})}
    return httpx.post(f"{base}/v1/chat/completions", json=payload, headers=h, timeout=30)


def ledger_row(database_url: str, request_id: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        cur = conn.execute(
            "SELECT cache, cost, cost_saved, tokens_saved, input_tokens, output_tokens, deployment, route "
            "FROM ledger WHERE request_id = %s", (request_id,))
        names = [d.name for d in cur.description or []]
        row = cur.fetchone()
    assert row is not None, f"no ledger row for {request_id}"
    return dict(zip(names, row, strict=True))


@pytest.fixture(scope="module")
def gw(database_url: str, upstream: tuple[FakeOpenAI, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from gureum.app import create_app

    # Semantic matching off: these tests are about exact matches only (tests/cache/test_semantic.py).
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path_factory.mktemp("exact"),
                                cache={"semantic": False})
    with serve_app(create_app(settings)) as base:
        yield base


def test_a_repeat_is_answered_from_cache_for_free(gw: str, upstream: tuple[FakeOpenAI, str], database_url: str) -> None:
    fake = upstream[0]
    n = len(fake.requests)
    first = ask(gw, "What is the capital of Korea?")
    assert first.status_code == 200 and first.headers["x-gureum-cache"] == "miss"
    second = ask(gw, "What is the capital of Korea?")
    assert second.status_code == 200
    assert len(fake.requests) == n + 1  # the upstream saw only the first
    assert second.headers["x-gureum-cache"] == "exact"
    assert second.headers["x-gureum-cache-origin"] == "gpt-test@fake"
    body = second.json()
    assert body["choices"][0]["message"]["content"] == fake.reply
    assert body["model"] == "gpt-test" and body["id"] != first.json()["id"]
    assert body["usage"]["total_tokens"] == 0  # nothing was spent on this answer

    paid = ledger_row(database_url, first.headers["x-request-id"])
    free = ledger_row(database_url, second.headers["x-request-id"])
    assert paid["cache"] is None and paid["cost"] > 0
    assert free["cache"] == "exact" and free["cost"] == 0 and free["deployment"] is None
    assert free["cost_saved"] == pytest.approx(paid["cost"])
    assert free["tokens_saved"] == paid["input_tokens"] + paid["output_tokens"]
    assert free["route"]["cache"]["kind"] == "exact"


def test_normalisation_merges_what_cannot_change_the_answer(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    assert ask(gw, "  Normalise me  ").headers["x-gureum-cache"] == "miss"
    n = len(fake.requests)
    # Surrounding whitespace, the `user` label, stream options and prompt-cache hints are not content.
    assert ask(gw, "Normalise me\n", user="someone-else").headers["x-gureum-cache"] == "exact"
    parts = [{"type": "text", "text": "Normalise me", "cache_control": {"type": "ephemeral"}}]
    assert ask(gw, parts).headers["x-gureum-cache"] == "miss"  # list content is a different shape …
    assert ask(gw, [{"type": "text", "text": "Normalise me"}]).headers["x-gureum-cache"] == "exact"  # … hint ignored
    assert len(fake.requests) == n + 1


def test_tool_call_ids_are_positions(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    def convo(call_id: str) -> list[dict[str, Any]]:
        return [
            {"role": "user", "content": "Weather in Seoul?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": "weather", "arguments": '{"city": "Seoul"}'}}]},
            {"role": "tool", "tool_call_id": call_id, "content": "맑음, 21도"},
            {"role": "user", "content": "Thanks, summarise it"},
        ]

    def post(call_id: str) -> httpx.Response:
        return httpx.post(f"{gw}/v1/chat/completions", headers={"authorization": f"Bearer {ADMIN_KEY}"}, timeout=30,
                          json={"model": "gpt-test", "messages": convo(call_id), "temperature": 0})

    assert post("call_abc").headers["x-gureum-cache"] == "miss"
    assert post("call_xyz").headers["x-gureum-cache"] == "exact"


def test_streams_are_stored_and_replayed_as_streams(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    client = openai.OpenAI(base_url=f"{gw}/v1", api_key=ADMIN_KEY, max_retries=0)
    n = len(fake.requests)
    msgs = [{"role": "user", "content": "Stream this answer"}]
    live = list(client.chat.completions.create(model="gpt-test", messages=msgs, temperature=0, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in live if c.choices) == fake.reply
    raw = client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=msgs, temperature=0, stream=True, stream_options={"include_usage": True})  # type: ignore[arg-type]
    assert raw.headers["x-gureum-cache"] == "exact"
    replay = list(raw.parse())
    assert "".join(c.choices[0].delta.content or "" for c in replay if c.choices) == fake.reply
    assert [c.choices[0].finish_reason for c in replay if c.choices][-1] == "stop"
    assert replay[-1].usage is not None and replay[-1].usage.total_tokens == 0
    # … and a plain request is answered from the stored stream too.
    plain = client.chat.completions.with_raw_response.create(model="gpt-test", messages=msgs, temperature=0)  # type: ignore[arg-type]
    assert plain.headers["x-gureum-cache"] == "exact"
    assert plain.parse().choices[0].message.content == fake.reply
    assert len(fake.requests) == n + 1


def test_only_deterministic_requests_are_cached(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    n = len(fake.requests)
    for _ in range(2):
        assert ask(gw, "Be creative", temperature=0.8).headers["x-gureum-cache"] == "bypass"
    payload = {"model": "gpt-test", "messages": [{"role": "user", "content": "No temperature given"}]}
    for _ in range(2):
        r = httpx.post(f"{gw}/v1/chat/completions", json=payload, headers={"authorization": f"Bearer {ADMIN_KEY}"})
        assert r.headers["x-gureum-cache"] == "bypass"
    assert len(fake.requests) == n + 4


def test_failures_and_tool_calls_are_not_stored(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    fake.script("error:400")
    assert ask(gw, "This one fails first").status_code == 400
    assert ask(gw, "This one fails first").headers["x-gureum-cache"] == "miss"  # the error was not stored
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
    n = len(fake.requests)
    for _ in range(2):
        r = ask(gw, "Weather in Busan?", tools=tools, tool_choice="auto")
        assert r.json()["choices"][0]["finish_reason"] == "tool_calls"
    assert len(fake.requests) == n + 2


def test_opt_outs(gw: str, upstream: tuple[FakeOpenAI, str]) -> None:
    fake = upstream[0]
    ask(gw, "Opt-out question")
    n = len(fake.requests)
    assert ask(gw, "Opt-out question", headers={"cache-control": "no-store"}).headers["x-gureum-cache"] == "bypass"
    assert ask(gw, "Opt-out question", headers={"x-gureum-cache": "off"}).headers["x-gureum-cache"] == "bypass"
    assert ask(gw, "Opt-out question", headers={"cache-control": "no-cache"}).headers["x-gureum-cache"] == "refresh"
    assert len(fake.requests) == n + 3
    assert ask(gw, "Opt-out question").headers["x-gureum-cache"] == "exact"
    # no-store: never written either
    ask(gw, "Never stored", headers={"cache-control": "no-store"})
    assert ask(gw, "Never stored").headers["x-gureum-cache"] == "miss"


def test_entries_are_shared_by_replicas_through_postgres(
    gw: str, upstream: tuple[FakeOpenAI, str], database_url: str, tmp_path: Path
) -> None:
    from gureum.app import create_app

    fake = upstream[0]
    ask(gw, "Shared across replicas?")
    n = len(fake.requests)
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path, cache={"semantic": False})
    with serve_app(create_app(settings)) as other:
        r = ask(other, "Shared across replicas?")
    assert r.headers["x-gureum-cache"] == "exact"
    assert len(fake.requests) == n


def test_entries_are_shared_through_redis(
    database_url: str, redis_url: str, upstream: tuple[FakeOpenAI, str], tmp_path: Path
) -> None:
    import redis

    from gureum.app import create_app

    fake = upstream[0]
    question = f"Redis shared {uuid.uuid4().hex[:6]}"
    settings = gateway_settings(database_url, {"fake": upstream[1]}, tmp_path / "a", redis_url=redis_url,
                                cache={"semantic": False})
    with serve_app(create_app(settings)) as a:
        assert ask(a, question).headers["x-gureum-cache"] == "miss"
    keys = redis.Redis.from_url(redis_url).keys("gureum:cache:root:*")
    assert keys, "the exact entry was written to Redis"
    n = len(fake.requests)
    with serve_app(create_app(settings.model_copy(update={"data_dir": tmp_path / "b"}))) as b:
        assert ask(b, question).headers["x-gureum-cache"] == "exact"
    assert len(fake.requests) == n


def embed(base: str, inputs: Any, *, headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    rid = "req_" + uuid.uuid4().hex
    h = {"authorization": f"Bearer {ADMIN_KEY}", "x-request-id": rid, **(headers or {})}
    return httpx.post(f"{base}/v1/embeddings", json={"model": "emb-test", "input": inputs, **body}, headers=h,
                      timeout=30)


def test_embeddings_are_cached_exactly(gw: str, upstream: tuple[FakeOpenAI, str], database_url: str) -> None:
    """Embeddings are deterministic: no temperature rule applies; the same inputs with the same
    parameters get the stored vectors for free, any other input or parameter goes upstream."""
    fake = upstream[0]
    inputs = [f"embed me {uuid.uuid4().hex[:6]}", "and me"]
    n = len(fake.requests)
    first = embed(gw, inputs)
    assert first.status_code == 200 and first.headers["x-gureum-cache"] == "miss", first.text
    second = embed(gw, inputs)
    assert second.status_code == 200 and second.headers["x-gureum-cache"] == "exact"
    assert len(fake.requests) == n + 1
    assert second.json()["data"] == first.json()["data"] and second.json()["object"] == "list"
    assert second.json()["usage"] == {"prompt_tokens": 0, "total_tokens": 0} and "id" not in second.json()
    row = ledger_row(database_url, second.headers["x-request-id"])
    assert row["cache"] == "exact" and row["cost"] == 0 and row["cost_saved"] > 0
    assert embed(gw, inputs[:1]).headers["x-gureum-cache"] == "miss"  # other inputs
    assert embed(gw, inputs, encoding_format="base64").headers["x-gureum-cache"] == "miss"  # another parameter
    assert embed(gw, inputs, headers={"cache-control": "no-store"}).headers["x-gureum-cache"] == "bypass"
    assert len(fake.requests) == n + 4
