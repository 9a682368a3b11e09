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
