"""Anthropic adapter, faked at the HTTP edge with the Messages API's real JSON and SSE shapes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from gureum.errors import InvalidRequest, UpstreamError, UpstreamRejected, UpstreamTimeout
from gureum.providers import registry
from gureum.providers.anthropic import AnthropicProvider
from gureum.providers.base import ProviderSettings, Usage
from tests.providers.contract import ProviderContract, Rig, httpx_rig
from tests.support.wire import AnthropicWire

Handler = Callable[[httpx.Request], httpx.Response]


class Fake:
    """Records every request and answers with the queued handler."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)


def make(handler: Handler, **options: Any) -> tuple[AnthropicProvider, Fake]:
    fake = Fake(handler)
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    settings = ProviderSettings(
        kind="anthropic", api_key="sk-ant-test", base_url="https://anthropic.test", options=options
    )
    provider = registry.create("claude", settings, http)
    assert isinstance(provider, AnthropicProvider)
    return provider, fake


def message(content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 6, **usage},
    }


def sse(*events: dict[str, Any]) -> httpx.Response:
    text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream; charset=utf-8"})


def start(**usage: int) -> dict[str, Any]:
    return {
        "type": "message_start",
        "message": {
            "id": "msg_stream",
            "type": "message",
            "role": "assistant",
            "content": [],
            "model": "claude-sonnet-4-5-20250929",
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 25, "output_tokens": 1, **usage},
        },
    }


def answer(response: httpx.Response) -> Handler:
    return lambda request: response


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


class TestAnthropicContract(ProviderContract):
    @pytest.fixture
    def rig(self) -> Rig:
        return httpx_rig(
            "anthropic", AnthropicWire(), base_url="https://anthropic.test", api_key="sk-ant-test",
            chat_model="claude-sonnet-4-5",
        )


# --------------------------------------------------------------------------- chat


async def test_plain_chat_with_system_prompt() -> None:
    provider, fake = make(lambda r: httpx.Response(200, json=message([{"type": "text", "text": "안녕하세요!"}])))
    result = await provider.chat(
        {
            "model": "smart",
            "messages": [
                {"role": "system", "content": "You are terse."},
                {"role": "user", "content": "Say hi in Korean"},
            ],
            "temperature": 1.5,
            "top_p": 0.9,
            "stop": "END",
            "user": "u-42",
        },
        "claude-sonnet-4-5",
    )

    sent = fake.requests[0]
    assert sent.url == "https://anthropic.test/v1/messages"
    assert sent.headers["x-api-key"] == "sk-ant-test"
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert fake.body == {
        "model": "claude-sonnet-4-5",
        "system": [{"type": "text", "text": "You are terse."}],
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Say hi in Korean"}]}],
        "max_tokens": 4096,
        "temperature": 1.0,  # clamped into Anthropic's range
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-42"},
    }
    assert result.body["object"] == "chat.completion"
    assert result.body["choices"][0]["message"] == {"role": "assistant", "content": "안녕하세요!"}
    assert result.body["choices"][0]["finish_reason"] == "stop"
    assert result.usage == Usage(prompt_tokens=12, completion_tokens=6)
    assert result.body["usage"] == {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18}


async def test_max_tokens_and_length_finish() -> None:
    provider, fake = make(
        lambda r: httpx.Response(200, json=message([{"type": "text", "text": "cut"}], "max_tokens")),
        default_max_tokens=111,
        beta=["prompt-caching-2024-07-31"],
    )
    result = await provider.chat({"messages": [{"role": "user", "content": "x"}], "max_completion_tokens": 7}, "m")
    assert fake.body["max_tokens"] == 7
    assert fake.requests[0].headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert result.body["choices"][0]["finish_reason"] == "length"
    await provider.chat({"messages": [{"role": "user", "content": "x"}]}, "m")
    assert fake.body["max_tokens"] == 111


async def test_tool_call_round_trip() -> None:
    replies = iter(
        [
            message(
                [
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Seoul"}},
                    {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}},
                ],
                "tool_use",
            ),
            message([{"type": "text", "text": "Sunny, 3pm."}]),
        ]
    )
    provider, fake = make(lambda r: httpx.Response(200, json=next(replies)))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather by city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
            },
        },
        {"type": "function", "function": {"name": "get_time"}},
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time in Seoul?"}]
    first = await provider.chat(
        {"messages": messages, "tools": tools, "tool_choice": "required", "parallel_tool_calls": False}, "m"
    )

    assert fake.body["tools"] == [
        {
            "name": "get_weather",
            "description": "Weather by city",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
        {"name": "get_time", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert fake.body["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}
    reply = first.body["choices"][0]
    assert reply["finish_reason"] == "tool_calls"
    assert reply["message"]["content"] == "Checking."
    assert reply["message"]["tool_calls"] == [
        {"id": "toolu_01A", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Seoul"}'}},
        {"id": "toolu_01B", "type": "function", "function": {"name": "get_time", "arguments": "{}"}},
    ]

    messages += [
        reply["message"],
        {"role": "tool", "tool_call_id": "toolu_01A", "content": '{"sky": "sunny"}'},
        {"role": "tool", "tool_call_id": "toolu_01B", "content": [{"type": "text", "text": "15:00"}]},
    ]
    second = await provider.chat(
        {"messages": messages, "tools": tools, "tool_choice": {"type": "function", "function": {"name": "get_time"}}},
        "m",
    )
    assert fake.body["tool_choice"] == {"type": "tool", "name": "get_time"}
    assert fake.body["messages"][1:] == [
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Seoul"}},
                {"type": "tool_use", "id": "toolu_01B", "name": "get_time", "input": {}},
            ],
        },
        {
            # Two OpenAI tool messages become one user turn, ids preserved.
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_01A", "content": '{"sky": "sunny"}'},
                {"type": "tool_result", "tool_use_id": "toolu_01B", "content": [{"type": "text", "text": "15:00"}]},
            ],
        },
    ]
    assert second.body["choices"][0]["message"]["content"] == "Sunny, 3pm."


async def test_images_cache_control_and_cache_usage() -> None:
    provider, fake = make(
        lambda r: httpx.Response(
            200,
            json=message(
                [{"type": "text", "text": "A cat."}], cache_creation_input_tokens=1000, cache_read_input_tokens=3000
            ),
        )
    )
    marker = {"type": "ephemeral"}
    result = await provider.chat(
        {
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "Long policy...", "cache_control": marker}]},
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is this?"},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        {"type": "image_url", "image_url": {"url": "https://img.test/cat.jpg"}},
                        {
                            "type": "file",
                            "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0="},
                        },
                    ],
                    "cache_control": {"type": "ephemeral", "ttl": "1h"},
                },
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "t", "parameters": {"type": "object"}},
                    "cache_control": marker,
                }
            ],
        },
        "m",
    )
    assert fake.body["system"] == [{"type": "text", "text": "Long policy...", "cache_control": marker}]
    assert fake.body["messages"][0]["content"] == [
        {"type": "text", "text": "What is this?"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://img.test/cat.jpg"}},
        {
            "type": "document",
            "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="},
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        },
    ]
    assert fake.body["tools"][0]["cache_control"] == marker
    # input_tokens (12) excludes the cache; prompt_tokens is the OpenAI-style inclusive total.
    assert result.usage == Usage(prompt_tokens=4012, completion_tokens=6, cached_tokens=3000, cache_write_tokens=1000)
    assert result.body["usage"]["prompt_tokens_details"] == {"cached_tokens": 3000, "cache_write_tokens": 1000}


async def test_response_format_json_schema() -> None:
    provider, fake = make(lambda r: httpx.Response(200, json=message([{"type": "text", "text": '{"a": 1}'}])))
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    await provider.chat(
        {
            "messages": [{"role": "user", "content": "x"}],
            "response_format": {"type": "json_schema", "json_schema": {"name": "A", "schema": schema}},
        },
        "m",
    )
    assert fake.body["output_config"] == {"format": {"type": "json_schema", "schema": schema}}


async def test_invalid_client_input_is_rejected_before_calling() -> None:
    provider, fake = make(lambda r: httpx.Response(500))
    bad_args = {
        "role": "assistant",
        "tool_calls": [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{nope"}}],
    }
    with pytest.raises(InvalidRequest):
        await provider.chat({"messages": [{"role": "user", "content": "x"}, bad_args]}, "m")
    with pytest.raises(InvalidRequest):
        await provider.chat({"messages": [{"role": "user", "content": "x"}], "n": 2}, "m")
    no_id = {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}
    with pytest.raises(InvalidRequest, match="malformed"):
        await provider.chat({"messages": [{"role": "user", "content": "x"}, no_id]}, "m")
    assert fake.requests == []


# --------------------------------------------------------------------------- stream


async def test_stream_text_with_usage_last() -> None:
    provider, fake = make(
        lambda r: sse(
            start(cache_read_input_tokens=100),
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "ping"},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hello"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "!"}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": 15},
            },
            {"type": "message_stop"},
        )
    )
    chunks = await collect(provider.stream({"messages": [{"role": "user", "content": "hi"}], "stream": True}, "m"))

    assert fake.body["stream"] is True
    assert all(c["object"] == "chat.completion.chunk" and c["id"] == "msg_stream" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello!"
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 125,
        "completion_tokens": 15,
        "total_tokens": 140,
        "prompt_tokens_details": {"cached_tokens": 100},
    }


async def test_stream_tool_call_argument_deltas() -> None:
    provider, _ = make(
        lambda r: sse(
            start(),
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Let me check."}},
            {"type": "content_block_stop", "index": 0},
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {"type": "tool_use", "id": "toolu_01T1x1", "name": "get_weather", "input": {}},
            },
            {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": ""}},
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": "Bu'},
            },
            {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'san"}'}},
            {"type": "content_block_stop", "index": 1},
            {
                "type": "content_block_start",
                "index": 2,
                "content_block": {"type": "tool_use", "id": "toolu_02", "name": "now", "input": {}},
            },
            {"type": "content_block_stop", "index": 2},
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 89},
            },
            {"type": "message_stop"},
        )
    )
    chunks = await collect(provider.stream({"messages": [{"role": "user", "content": "weather?"}]}, "m"))
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "toolu_01T1x1",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    assert "".join(tc["function"]["arguments"] for tc in calls if tc["index"] == 0) == '{"city": "Busan"}'
    assert calls[-2]["id"] == "toolu_02" and calls[-1] == {"index": 1, "function": {"arguments": "{}"}}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["completion_tokens"] == 89


async def test_stream_error_event_keeps_the_error_types_status() -> None:
    provider, _ = make(
        lambda r: sse(start(), {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    )
    with pytest.raises(UpstreamError) as info:
        await collect(provider.stream({"messages": [{"role": "user", "content": "hi"}]}, "m"))
    assert info.value.retriable and info.value.upstream_status == 529
    assert not isinstance(info.value, UpstreamRejected)


async def test_stream_truncated_before_message_stop() -> None:
    provider, _ = make(
        lambda r: sse(
            start(), {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        )
    )
    with pytest.raises(UpstreamError, match="message_stop"):
        await collect(provider.stream({"messages": [{"role": "user", "content": "hi"}]}, "m"))


async def test_stream_closed_when_consumer_stops() -> None:
    closed: list[bool] = []

    class Body(httpx.AsyncByteStream):
        async def __aiter__(self) -> AsyncIterator[bytes]:
            yield f"event: message_start\ndata: {json.dumps(start())}\n\n".encode()
            for _ in range(1000):
                delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "x"}}
                yield f"event: content_block_delta\ndata: {json.dumps(delta)}\n\n".encode()

        async def aclose(self) -> None:
            closed.append(True)

    provider, _ = make(lambda r: httpx.Response(200, stream=Body(), headers={"content-type": "text/event-stream"}))
    stream = provider.stream({"messages": [{"role": "user", "content": "hi"}]}, "m")
    async for chunk in stream:
        if chunk["choices"][0]["delta"].get("content") == "x":
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert closed == [True]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "err_type", "expected", "retriable"),
    [
        (413, "request_too_large", UpstreamRejected, False),
        (409, "api_error", UpstreamError, True),
        (529, "overloaded_error", UpstreamError, True),
        (504, "timeout_error", UpstreamTimeout, True),
    ],
)
async def test_http_error_mapping(status: int, err_type: str, expected: type[UpstreamError], retriable: bool) -> None:
    body = {"type": "error", "error": {"type": err_type, "message": "nope"}, "request_id": "req_011"}
    provider, _ = make(lambda r: httpx.Response(status, json=body, headers={"retry-after": "7"}))
    with pytest.raises(UpstreamError) as info:
        await provider.chat({"messages": [{"role": "user", "content": "hi"}]}, "m")
    err = info.value
    assert type(err) is expected
    assert err.retriable is retriable
    assert err.upstream_status == status
    assert "nope" in err.message
    if status == 529:
        assert err.headers == {"retry-after": "7"}
    if expected is UpstreamRejected:
        assert err.status == status
