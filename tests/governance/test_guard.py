"""The PII guard through the running gateway: masked values never reach the upstream (asserted on
what the fake upstream received), the reply is unmasked for the caller — streamed replies too,
with placeholders split across chunks — blocks name the type and never echo the value, `local`
may receive everything, the reply is leak-checked, and prompts reach the audit log only masked
and only when the tenant asks for it."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import orjson
import psycopg
import pytest
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from tests.conftest import gateway_settings
from tests.governance.helpers import chat, make_key
from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import serve_app

PHONE = "010-1234-5678"
EMAIL = "hong@example.com"
RRN = "900101-1234568"  # valid check digit
CARD = "4111-1111-1111-1111"  # Luhn-valid test number
LEAKED = "고객 주민번호는 850505-1234561 입니다"  # what a misbehaving model might answer


class EchoUpstream(FakeOpenAI):
    """Answers with the last user text it received (so placeholders come back, as a model's do),
    streaming it in 3-character pieces so placeholders are split across chunks."""

    def reply_for(self, body: dict[str, Any]) -> str:
        content = body["messages"][-1].get("content")
        text = content if isinstance(content, str) else " ".join(p.get("text", "") for p in content or [])
        return LEAKED if text.startswith("LEAK") else f"echo: {text}"

    async def chat(self, request: Request) -> Response:  # type: ignore[override]
        body = orjson.loads(await request.body())
        if not body.get("stream"):
            return await super().chat(request)
        self.requests.append(body)
        text = self.reply_for(body)

        async def sse() -> Any:
            base = {"id": "chatcmpl-echo", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model")}
            first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            yield b"data: " + orjson.dumps({**base, "choices": [first]}) + b"\n\n"
            for i in range(0, len(text), 3):
                piece = {"index": 0, "delta": {"content": text[i:i + 3]}, "finish_reason": None}
                yield b"data: " + orjson.dumps({**base, "choices": [piece]}) + b"\n\n"
                await asyncio.sleep(0)
            last = {"index": 0, "delta": {}, "finish_reason": "stop"}
            yield b"data: " + orjson.dumps({**base, "choices": [last]}) + b"\n\n"
            usage = {"prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}
            yield b"data: " + orjson.dumps({**base, "choices": [], "usage": usage}) + b"\n\n"
            yield b"data: [DONE]\n\n"

        return StreamingResponse(sse(), media_type="text/event-stream")


@pytest.fixture(scope="module")
def echo() -> Iterator[tuple[EchoUpstream, str]]:
    fake = EchoUpstream(name="echo")
    with serve_app(fake.app) as url:
        yield fake, url


@pytest.fixture(scope="module")
def gw(database_url: str, echo: tuple[EchoUpstream, str],
       tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    from gureum.app import create_app

    t = uuid.uuid4().hex[:6]
    deployments = [
        {"name": "gpt-test", "provider": "echo", "model": "echo-us", "region": "us"},
        {"name": "on-prem", "provider": "echo", "model": "echo-local", "region": "local"},
        {"name": "embed", "provider": "echo", "model": "embed-us", "region": "us", "kind": "embedding"},
    ]
    gov = {
        "pii": {"default": {"*": "mask", "KR_RRN": "block", "CREDIT_CARD": "redact"},
                "by_region": {"local": {"*": "allow"}}},
        "tenants": {f"aud{t}": {"audit_masked_text": True}},
    }
    settings = gateway_settings(database_url, {"echo": echo[1]}, tmp_path_factory.mktemp("guard"),
                                deployments=deployments, governance=gov)
    with serve_app(create_app(settings)) as base:
        yield base, t


@pytest.fixture(scope="module")
def key(gw: tuple[str, str]) -> str:
    return make_key(gw[0], f"g{gw[1]}")


def _sent(fake: FakeOpenAI) -> str:
    return orjson.dumps(fake.requests[-1]).decode()


def _audit(database_url: str, request_id: str) -> dict[str, Any]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT decision, status, detail FROM audit_events WHERE request_id = %s",
                           (request_id,)).fetchone()
    assert row is not None
    return {"decision": row[0], "status": row[1], "detail": row[2], "raw": orjson.dumps(row[2]).decode()}


def test_masked_upstream_unmasked_reply(gw: tuple[str, str], key: str, echo: tuple[EchoUpstream, str],
                                        database_url: str) -> None:
    base, _ = gw
    text = f"제 번호는 {PHONE} 이고 메일은 {EMAIL} 입니다."
    r = chat(base, key, text, headers={"x-request-id": "req-mask-1"})
    assert r.status_code == 200, r.text
    sent = _sent(echo[0])
    assert PHONE not in sent and EMAIL not in sent
    assert "<KR_PHONE_1>" in sent and "<EMAIL_1>" in sent
    assert r.json()["choices"][0]["message"]["content"] == f"echo: {text}"
    ev = _audit(database_url, "req-mask-1")
    assert ev["detail"]["pii_types"] == ["EMAIL", "KR_PHONE"]
    assert "prompt" not in ev["detail"]  # raw prompts are not stored by default
    assert PHONE not in ev["raw"] and EMAIL not in ev["raw"]


def test_every_text_of_the_conversation_is_guarded(gw: tuple[str, str], key: str,
                                                   echo: tuple[EchoUpstream, str]) -> None:
    base, _ = gw
    messages = [
        {"role": "system", "content": f"The customer is {EMAIL}."},
        {"role": "user", "content": [{"type": "text", "text": f"Call me on {PHONE}"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "lookup", "arguments": f'{{"email": "{EMAIL}"}}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": f"found {EMAIL}, phone {PHONE}"},
        {"role": "user", "content": f"Write to {EMAIL} please"},
    ]
    r = chat(base, key, messages)
    assert r.status_code == 200, r.text
    sent = echo[0].requests[-1]
    dump = orjson.dumps(sent).decode()
    assert EMAIL not in dump and PHONE not in dump
    # one vault for the whole request: the same value has the same placeholder everywhere
    assert sent["messages"][0]["content"] == "The customer is <EMAIL_1>."
    assert sent["messages"][1]["content"][0]["text"] == "Call me on <KR_PHONE_1>"
    assert sent["messages"][1]["content"][1] == messages[1]["content"][1]
    assert sent["messages"][2]["tool_calls"][0]["function"]["arguments"] == '{"email": "<EMAIL_1>"}'
    assert sent["messages"][3]["content"] == "found <EMAIL_1>, phone <KR_PHONE_1>"
    assert r.json()["choices"][0]["message"]["content"] == f"echo: Write to {EMAIL} please"


def test_stream_is_unmasked_across_chunk_boundaries(gw: tuple[str, str], key: str,
                                                    echo: tuple[EchoUpstream, str]) -> None:
    base, _ = gw
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    text = f"연락처 {PHONE}, 메일 {EMAIL}, 다시 {PHONE}"
    chunks = list(client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": text}], stream=True))
    got = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert got == f"echo: {text}"
    sent = _sent(echo[0])
    assert PHONE not in sent and EMAIL not in sent and sent.count("<KR_PHONE_1>") == 2


def test_block_names_the_type_never_the_value(gw: tuple[str, str], key: str, echo: tuple[EchoUpstream, str],
                                              database_url: str) -> None:
    base, _ = gw
    before = len(echo[0].requests)
    r = chat(base, key, f"제 주민등록번호는 {RRN} 입니다", headers={"x-request-id": "req-block-1"})
    assert r.status_code == 403
    err = r.json()["error"]
    assert err["code"] == "pii_blocked" and "KR_RRN" in err["message"]
    assert RRN not in r.text and RRN.replace("-", "") not in r.text and "1234568" not in r.text
    assert len(echo[0].requests) == before  # nothing left the gateway
    ev = _audit(database_url, "req-block-1")
    assert ev["decision"] == "deny" and ev["status"] == 403 and "KR_RRN" in ev["detail"]["reason"]
    assert "1234568" not in ev["raw"]
    # streaming requests are refused the same way, before any byte is streamed
    r = chat(base, key, f"rrn {RRN}", stream=True)
    assert r.status_code == 403 and "1234568" not in r.text


def test_redact_is_irreversible(gw: tuple[str, str], key: str, echo: tuple[EchoUpstream, str]) -> None:
    base, _ = gw
    r = chat(base, key, f"card {CARD} please")
    assert r.status_code == 200
    assert "[CREDIT_CARD]" in _sent(echo[0]) and "4111" not in _sent(echo[0])
    assert r.json()["choices"][0]["message"]["content"] == "echo: card [CREDIT_CARD] please"


def test_local_region_receives_values(gw: tuple[str, str], key: str, echo: tuple[EchoUpstream, str]) -> None:
    base, _ = gw
    text = f"{PHONE} / {EMAIL} / {RRN}"
    r = chat(base, key, text, model="on-prem")
    assert r.status_code == 200
    assert echo[0].requests[-1]["messages"][-1]["content"] == text


def test_reply_is_leak_checked(gw: tuple[str, str], key: str, database_url: str) -> None:
    base, _ = gw
    r = chat(base, key, "LEAK please", headers={"x-request-id": "req-leak-1"})
    assert r.status_code == 200
    content = r.json()["choices"][0]["message"]["content"]
    assert "850505" not in content and "[KR_RRN]" in content
    assert _audit(database_url, "req-leak-1")["detail"]["pii_redacted_in_reply"] == ["KR_RRN"]
    client = openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    chunks = list(client.chat.completions.create(
        model="gpt-test", messages=[{"role": "user", "content": "LEAK again"}], stream=True))
    got = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "850505" not in got and got == LEAKED.replace("850505-1234561", "[KR_RRN]")
    # the local model is allowed to see and say everything: no leak check there
    r = chat(base, key, "LEAK local", model="on-prem")
    assert "850505-1234561" in r.json()["choices"][0]["message"]["content"]


def test_audit_masked_text_on_request(gw: tuple[str, str], database_url: str) -> None:
    base, t = gw
    key = make_key(base, f"aud{t}")
    text = f"메일 {EMAIL}"
    assert chat(base, key, text, headers={"x-request-id": "req-aud-1"}).status_code == 200
    assert chat(base, key, text, model="on-prem", headers={"x-request-id": "req-aud-2"}).status_code == 200
    for rid in ("req-aud-1", "req-aud-2"):  # masked for the log even where the model may see the value
        ev = _audit(database_url, rid)
        assert ev["detail"]["prompt"] == [{"role": "user", "text": "메일 <EMAIL_1>"}]
        assert EMAIL not in ev["raw"]


def test_embeddings_input_is_guarded(gw: tuple[str, str], key: str, echo: tuple[EchoUpstream, str]) -> None:
    import httpx

    base, _ = gw
    r = httpx.post(f"{base}/v1/embeddings", headers={"authorization": f"Bearer {key}"},
                   json={"model": "embed", "input": [f"mail {EMAIL}", "plain"]}, timeout=30)
    assert r.status_code == 200, r.text
    assert echo[0].requests[-1]["input"] == ["mail <EMAIL_1>", "plain"]


# --- the stream filters on their own ------------------------------------------------------------


def _rules(pii: dict[str, Any]) -> Any:
    from gureum.governance.policy import Policy
    from gureum.governance.settings import GovernanceSettings

    return Policy(GovernanceSettings.model_validate({"pii": pii})).for_tenant("t")


def test_stream_leak_check_holds_back_values_split_anywhere() -> None:
    from gureum.governance.pii.leaks import Leaks, TextFilter

    rules = _rules({"default": {"*": "mask", "KR_RRN": "redact"}})
    text = ("첫 번째 고객의 주민등록번호는 850505-1234561 이고, " * 3) + "두 번째는 900101-1234568 입니다. " + "끝." * 40
    expected = text.replace("850505-1234561", "[KR_RRN]").replace("900101-1234568", "[KR_RRN]")
    for size in (1, 2, 5, 17):
        leaks = Leaks(lambda type_: rules.strictest(type_, {"us"}))
        f = TextFilter(None, leaks)
        out = "".join(f.feed(text[i:i + size]) for i in range(0, len(text), size)) + f.flush()
        assert out == expected, size
        assert leaks.seen == {"KR_RRN"}


async def test_stream_unmasks_tool_call_arguments_and_flushes_at_finish() -> None:
    from gureum.flow.replies import filter_stream
    from gureum.governance.pii import Vault

    vault = Vault()
    ph = vault.placeholder("EMAIL", EMAIL)
    args = f'{{"to": "{ph}"}}'
    content = f"mail {ph} <"  # a lone "<" at the end must survive too

    async def upstream() -> Any:
        for i in range(0, len(args), 4):
            yield {"id": "c", "choices": [{"index": 0, "delta": {"tool_calls": [
                {"index": 0, "function": {"arguments": args[i:i + 4]}}]}, "finish_reason": None}]}
        for i in range(0, len(content), 4):
            yield {"id": "c", "choices": [{"index": 0, "delta": {"content": content[i:i + 4]}, "finish_reason": None}]}
        yield {"id": "c", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}

    chunks = [c async for c in filter_stream(upstream(), vault, None)]
    got_args = "".join(tc["function"]["arguments"] for c in chunks for ch in c["choices"]
                       for tc in ch["delta"].get("tool_calls") or [])
    got_text = "".join(ch["delta"].get("content") or "" for c in chunks for ch in c["choices"])
    assert got_args == f'{{"to": "{EMAIL}"}}'
    assert got_text == f"mail {EMAIL} <"
