"""The gateway driven through the official openai SDK over real HTTP."""

from __future__ import annotations

import openai
import pytest

from tests.conftest import ADMIN_KEY
from tests.support.fake_openai import FakeOpenAI


@pytest.fixture(scope="module")
def client(gateway: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=ADMIN_KEY, max_retries=0)


def test_chat_round_trip(client: openai.OpenAI, upstream: tuple[FakeOpenAI, str]) -> None:
    fake, _ = upstream
    resp = client.chat.completions.with_raw_response.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}], max_tokens=16
    )
    out = resp.parse()
    assert out.choices[0].message.content == fake.reply
    assert out.model == "gpt-test"
    assert out.usage is not None and out.usage.total_tokens > 0
    assert resp.headers["x-gureum-deployment"] == "gpt-test@fake"
    sent = fake.requests[-1]
    assert sent["model"] == "fake-model" and sent["max_tokens"] == 16
    assert fake.headers[-1]["authorization"] == "Bearer sk-upstream-fake"


def test_stream(client: openai.OpenAI, upstream: tuple[FakeOpenAI, str]) -> None:
    fake, _ = upstream
    chunks = list(client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "hi"}], stream=True,
        stream_options={"include_usage": True},
    ))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == fake.reply
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == len(fake.reply.split())


def test_embeddings(client: openai.OpenAI, upstream: tuple[FakeOpenAI, str]) -> None:
    fake, _ = upstream
    out = client.embeddings.create(model="emb-test", input=["하나", "둘셋"])
    assert [d.index for d in out.data] == [0, 1]
    assert out.data[1].embedding[0] == float(len("둘셋") % 7)
    assert fake.requests[-1] == {"model": "fake-embed", "input": ["하나", "둘셋"]}
    assert out.usage.prompt_tokens > 0


def test_models_lists_catalog_with_metadata(client: openai.OpenAI) -> None:
    models = {m.id: m for m in client.models.list()}
    assert {"gpt-test", "emb-test"} <= set(models)
    meta = models["gpt-test"].model_extra["gureum"]
    assert meta["kind"] == "chat" and meta["regions"] == ["us"] and meta["price_per_1m"]["output"] == 2.0
    assert client.models.retrieve("emb-test").model_extra["gureum"]["kind"] == "embedding"


def test_tools_pass_through(client: openai.OpenAI, upstream: tuple[FakeOpenAI, str]) -> None:
    fake, _ = upstream
    tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object", "properties": {}}}}]
    out = client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "weather?"}], tools=tools, tool_choice="auto"
    )
    assert fake.requests[-1]["tools"] == tools and fake.requests[-1]["tool_choice"] == "auto"
    call = out.choices[0].message.tool_calls[0]
    assert call.function.name == "weather" and out.choices[0].finish_reason == "tool_calls"


def test_metrics_count_requests(client: openai.OpenAI, gateway: str) -> None:
    import httpx

    client.chat.completions.create(model="gpt-test", messages=[{"role": "user", "content": "count me"}])
    text = httpx.get(f"{gateway}/metrics").text
    line = next(ln for ln in text.splitlines()
                if ln.startswith("gureum_requests_total{") and 'model="gpt-test"' in ln and 'status="200"' in ln)
    assert float(line.rsplit(" ", 1)[1]) >= 1


def test_ledger_and_audit_rows(client: openai.OpenAI, database_url: str) -> None:
    import psycopg

    raw = client.chat.completions.with_raw_response.create(model="gpt-test", messages=[{"role": "user", "content": "x"}])
    rid = raw.headers["x-request-id"]
    with psycopg.connect(database_url) as conn:
        audit = conn.execute("SELECT action, decision, status, tenant_id FROM audit_events WHERE request_id = %s", (rid,)).fetchall()
        for _ in range(50):
            ledger = conn.execute(
                "SELECT deployment, input_tokens, output_tokens, cost, status FROM ledger WHERE request_id = %s", (rid,)
            ).fetchall()
            if ledger:
                break
            import time

            time.sleep(0.05)
    assert audit == [("api.chat", "allow", 200, "root")], "the audit event is committed before the answer"
    (dep, tin, tout, cost, status), = ledger
    assert dep == "gpt-test@fake" and status == 200 and tin > 0 and tout > 0
    assert cost == pytest.approx((tin * 1.0 + tout * 2.0) / 1e6)


def test_openapi_documents_request_bodies(gateway: str) -> None:
    import httpx

    doc = httpx.get(f"{gateway}/openapi.json").json()
    body = doc["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ChatRequest"}
    schemas = doc["components"]["schemas"]
    assert "messages" in schemas["ChatRequest"]["properties"] and "ChatMessage" in schemas
