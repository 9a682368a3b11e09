"""Gemini adapter: the google-genai SDK runs for real over an httpx.MockTransport that answers with
generateContent / streamGenerateContent / batchEmbedContents JSON and SSE as Google sends them."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from gureum.errors import InvalidRequest, UpstreamError, UpstreamTimeout
from gureum.providers import registry
from gureum.providers.base import ProviderSettings, Usage
from gureum.providers.gemini import GeminiProvider
from tests.providers.contract import ProviderContract, Rig, httpx_rig
from tests.support.wire import GeminiWire

Handler = Callable[[httpx.Request], httpx.Response]
MODEL = "gemini-2.5-flash"
BASE = "https://gemini.test/v1beta/models"


class Fake:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)

    @property
    def body(self) -> dict[str, Any]:
        return json.loads(self.requests[-1].content)


def make(handler: Handler, **settings: Any) -> tuple[GeminiProvider, Fake]:
    fake = Fake(handler)
    http = httpx.AsyncClient(transport=httpx.MockTransport(fake))
    config = ProviderSettings(
        kind="gemini", api_key="AIza-test", base_url="https://gemini.test", api_version="v1beta", **settings
    )
    provider = registry.create("gemini", config, http)
    assert isinstance(provider, GeminiProvider)
    return provider, fake


def reply(parts: list[dict[str, Any]], finish: str = "STOP", **usage: int) -> dict[str, Any]:
    return {
        "candidates": [
            {"content": {"role": "model", "parts": parts}, "finishReason": finish, "index": 0, "avgLogprobs": -0.12}
        ],
        "usageMetadata": {
            "promptTokenCount": 11,
            "candidatesTokenCount": 5,
            "totalTokenCount": 16,
            "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 11}],
            **usage,
        },
        "modelVersion": "gemini-2.5-flash",
        "responseId": "fnKpaO3dL4",
    }


def sse(*chunks: dict[str, Any]) -> httpx.Response:
    text = "".join(f"data: {json.dumps(c)}\r\n\r\n" for c in chunks)
    return httpx.Response(200, text=text, headers={"content-type": "text/event-stream"})


def answer(response: httpx.Response) -> Handler:
    return lambda request: response


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


class TestGeminiContract(ProviderContract):
    @pytest.fixture
    def rig(self) -> Rig:
        return httpx_rig(
            "gemini", GeminiWire(), base_url="https://gemini.test", api_version="v1beta", api_key="AIza-test",
            chat_model=MODEL, embed_model="gemini-embedding-001",
        )


# --------------------------------------------------------------------------- chat


async def test_plain_chat_with_system_prompt() -> None:
    provider, fake = make(
        lambda r: httpx.Response(
            200, json=reply([{"text": "안녕하세요!"}], thoughtsTokenCount=7, cachedContentTokenCount=4)
        )
    )
    result = await provider.chat(
        {
            "messages": [
                {"role": "system", "content": "Answer in Korean."},
                {"role": "user", "content": "Hello"},
            ],
            "temperature": 0.3,
            "top_p": 0.8,
            "max_tokens": 100,
            "stop": ["\n\n"],
            "seed": 7,
        },
        MODEL,
    )
    sent = fake.requests[0]
    assert str(sent.url) == f"{BASE}/{MODEL}:generateContent"
    assert sent.headers["x-goog-api-key"] == "AIza-test"
    assert fake.body == {
        "contents": [{"role": "user", "parts": [{"text": "Hello"}]}],
        "systemInstruction": {"role": "user", "parts": [{"text": "Answer in Korean."}]},
        "generationConfig": {
            "temperature": 0.3,
            "topP": 0.8,
            "maxOutputTokens": 100,
            "stopSequences": ["\n\n"],
            "seed": 7,
        },
    }
    assert result.body["id"] == "chatcmpl-fnKpaO3dL4"
    assert result.body["model"] == "gemini-2.5-flash"
    assert result.body["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "안녕하세요!"},
            "finish_reason": "stop",
            "logprobs": None,
        }
    ]
    # Thinking tokens are output; cached tokens are part of the prompt count.
    assert result.usage == Usage(prompt_tokens=11, completion_tokens=12, cached_tokens=4)
    assert result.body["usage"] == {
        "prompt_tokens": 11,
        "completion_tokens": 12,
        "total_tokens": 23,
        "prompt_tokens_details": {"cached_tokens": 4},
    }


async def test_tool_call_round_trip_keeps_ids_and_thought_signatures() -> None:
    signature = b"\x12\x34opaque-signature"
    replies = iter(
        [
            reply(
                [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Seoul"}},
                        "thoughtSignature": base64.b64encode(signature).decode(),
                    },
                    {"functionCall": {"id": "fc-2", "name": "get_time", "args": {}}},
                ]
            ),
            reply([{"text": "Sunny at 3pm."}]),
        ]
    )
    provider, fake = make(lambda r: httpx.Response(200, json=next(replies)))
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather by city", "parameters": schema},
        },
        {"type": "function", "function": {"name": "get_time"}},
    ]
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Weather and time?"}]
    first = await provider.chat(
        {
            "messages": messages,
            "tools": tools,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
        },
        MODEL,
    )

    assert fake.body["tools"] == [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": "Weather by city", "parameters_json_schema": schema},
                {"name": "get_time"},
            ]
        }
    ]
    assert fake.body["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    choice = first.body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    weather, clock = choice["message"]["tool_calls"]
    generated, _, encoded = weather["id"].partition("__thought__")
    assert generated.startswith("call_") and base64.b64decode(encoded) == signature
    assert weather["function"] == {"name": "get_weather", "arguments": '{"city": "Seoul"}'}
    assert clock == {"id": "fc-2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}

    messages += [
        choice["message"],
        {"role": "tool", "tool_call_id": weather["id"], "content": '{"sky": "sunny"}'},
        {"role": "tool", "tool_call_id": "fc-2", "content": "15:00"},
    ]
    second = await provider.chat({"messages": messages, "tools": tools, "tool_choice": "auto"}, MODEL)
    assert fake.body["toolConfig"] == {"functionCallingConfig": {"mode": "AUTO"}}
    assert fake.body["contents"][1:] == [
        {
            "role": "model",
            "parts": [
                # Our invented id is not sent; Gemini's own id and the signature are.
                {
                    "functionCall": {"name": "get_weather", "args": {"city": "Seoul"}},
                    "thoughtSignature": base64.b64encode(signature).decode(),
                },
                {"functionCall": {"id": "fc-2", "name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"sky": "sunny"}}},
                {"functionResponse": {"id": "fc-2", "name": "get_time", "response": {"output": "15:00"}}},
            ],
        },
    ]
    assert second.body["choices"][0]["message"]["content"] == "Sunny at 3pm."


async def test_multimodal_parts_and_json_schema() -> None:
    provider, fake = make(lambda r: httpx.Response(200, json=reply([{"text": '{"animal": "cat"}'}])))
    schema = {"type": "object", "properties": {"animal": {"type": "string"}}}
    await provider.chat(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What animal?", "cache_control": {"type": "ephemeral"}},
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        {"type": "image_url", "image_url": {"url": "gs://bucket/cat.jpg"}},
                    ],
                }
            ],
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
        },
        MODEL,
    )
    # The SDK spells nested blob fields in snake_case; Google's proto-JSON parser takes both.
    assert fake.body["contents"][0]["parts"] == [
        {"text": "What animal?"},
        {"inlineData": {"data": "iVBORw0KGgo=", "mime_type": "image/png"}},
        {"fileData": {"file_uri": "gs://bucket/cat.jpg", "mime_type": "image/jpeg"}},
    ]
    assert fake.body["generationConfig"]["responseMimeType"] == "application/json"
    assert fake.body["generationConfig"]["responseJsonSchema"] == schema


async def test_multiple_candidates_and_blocked_prompt() -> None:
    two = reply([{"text": "A"}])
    two["candidates"].append(
        {"content": {"role": "model", "parts": [{"text": "B"}]}, "finishReason": "MAX_TOKENS", "index": 1}
    )
    provider, fake = make(lambda r: httpx.Response(200, json=two))
    result = await provider.chat({"messages": [{"role": "user", "content": "x"}], "n": 2}, MODEL)
    assert fake.body["generationConfig"]["candidateCount"] == 2
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in result.body["choices"]] == [
        (0, "A", "stop"),
        (1, "B", "length"),
    ]

    blocked = {
        "promptFeedback": {"blockReason": "SAFETY"},
        "usageMetadata": {"promptTokenCount": 8, "totalTokenCount": 8},
    }
    provider, _ = make(lambda r: httpx.Response(200, json=blocked))
    result = await provider.chat({"messages": [{"role": "user", "content": "x"}]}, MODEL)
    assert result.body["choices"][0]["finish_reason"] == "content_filter"
    assert result.usage.prompt_tokens == 8


async def test_client_input_errors_raise_before_calling() -> None:
    provider, fake = make(lambda r: httpx.Response(500))
    for body in (
        {"messages": [{"role": "tool", "tool_call_id": "nobody", "content": "x"}]},
        {"messages": [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]},
        {
            "messages": [
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png,raw"}}]}
            ]
        },
        {
            "messages": [{"role": "user", "content": "x"}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": "sometimes",
        },
    ):
        with pytest.raises(InvalidRequest):
            await provider.chat(body, MODEL)
    assert fake.requests == []


# --------------------------------------------------------------------------- stream


async def test_stream_text_and_usage() -> None:
    provider, fake = make(
        lambda r: sse(
            {
                "candidates": [{"content": {"role": "model", "parts": [{"text": "구름"}]}, "index": 0}],
                "responseId": "s1",
                "modelVersion": MODEL,
            },
            {
                "candidates": [{"content": {"role": "model", "parts": [{"text": "입니다."}]}, "index": 0}],
                "responseId": "s1",
            },
            {
                "candidates": [
                    {"content": {"role": "model", "parts": [{"text": ""}]}, "finishReason": "STOP", "index": 0}
                ],
                "usageMetadata": {
                    "promptTokenCount": 6,
                    "candidatesTokenCount": 3,
                    "totalTokenCount": 9,
                    "cachedContentTokenCount": 2,
                },
                "responseId": "s1",
            },
        )
    )
    chunks = await collect(provider.stream({"messages": [{"role": "user", "content": "hi"}], "stream": True}, MODEL))
    assert str(fake.requests[0].url) == f"{BASE}/{MODEL}:streamGenerateContent?alt=sse"
    assert all(c["id"] == "chatcmpl-s1" and c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "구름입니다."
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 6,
        "completion_tokens": 3,
        "total_tokens": 9,
        "prompt_tokens_details": {"cached_tokens": 2},
    }


async def test_stream_tool_call() -> None:
    provider, _ = make(
        lambda r: sse(
            {"candidates": [{"content": {"role": "model", "parts": [{"text": "Checking."}]}, "index": 0}]},
            {
                "candidates": [
                    {
                        "content": {
                            "role": "model",
                            "parts": [
                                {"functionCall": {"name": "lookup", "args": {"id": "A-7"}}, "thoughtSignature": "c2ln"},
                                {"functionCall": {"name": "lookup", "args": {"id": "B-1"}}},
                            ],
                        },
                        "finishReason": "STOP",
                        "index": 0,
                    }
                ],
                "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 10, "totalTokenCount": 30},
            },
        )
    )
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    chunks = await collect(
        provider.stream({"messages": [{"role": "user", "content": "A-7 and B-1?"}], "tools": tools}, MODEL)
    )
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert [(tc["index"], tc["function"]["arguments"]) for tc in calls] == [(0, '{"id": "A-7"}'), (1, '{"id": "B-1"}')]
    assert calls[0]["id"].endswith("__thought__c2ln") and calls[0]["type"] == "function"
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["total_tokens"] == 30


async def test_stream_without_finish_reason_and_blocked_prompt() -> None:
    provider, _ = make(
        lambda r: sse({"candidates": [{"content": {"role": "model", "parts": [{"text": "Hi"}]}, "index": 0}]})
    )
    with pytest.raises(UpstreamError, match="finishReason"):
        await collect(provider.stream({"messages": [{"role": "user", "content": "hi"}]}, MODEL))

    blocked = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 4}}
    provider, _ = make(lambda r: sse(blocked))
    chunks = await collect(provider.stream({"messages": [{"role": "user", "content": "hi"}]}, MODEL))
    assert [c["choices"][0]["finish_reason"] for c in chunks[:-1]] == [None, "content_filter"]
    assert chunks[-1]["usage"]["prompt_tokens"] == 4


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("code", "status", "expected", "retriable"),
    [
        (504, "DEADLINE_EXCEEDED", UpstreamTimeout, True),
        (408, "DEADLINE_EXCEEDED", UpstreamTimeout, True),
    ],
)
async def test_http_error_mapping(code: int, status: str, expected: type[UpstreamError], retriable: bool) -> None:
    provider, _ = make(
        lambda r: httpx.Response(code, json={"error": {"code": code, "message": "upstream says no", "status": status}})
    )
    with pytest.raises(UpstreamError) as info:
        await provider.chat({"messages": [{"role": "user", "content": "hi"}]}, MODEL)
    err = info.value
    assert type(err) is expected and err.retriable is retriable
    assert err.upstream_status == code and "upstream says no" in err.message


# --------------------------------------------------------------------------- embeddings and Vertex


async def test_embed_batches_with_task_type() -> None:
    provider, fake = make(
        lambda r: httpx.Response(
            200, json={"embeddings": [{"values": [0.1, 0.2]} for _ in json.loads(r.content)["requests"]]}
        )
    )
    result = await provider.embed(["구름", "cloud"], "gemini-embedding-001", kind="query")
    assert str(fake.requests[0].url) == f"{BASE}/gemini-embedding-001:batchEmbedContents"
    assert fake.body == {
        "requests": [
            {
                "content": {"role": "user", "parts": [{"text": "구름"}]},
                "taskType": "RETRIEVAL_QUERY",
                "model": "models/gemini-embedding-001",
            },
            {
                "content": {"role": "user", "parts": [{"text": "cloud"}]},
                "taskType": "RETRIEVAL_QUERY",
                "model": "models/gemini-embedding-001",
            },
        ]
    }
    assert result.vectors == [[0.1, 0.2], [0.1, 0.2]]
    assert result.usage.prompt_tokens > 0  # estimated: the Gemini API reports no count

    provider, _ = make(lambda r: httpx.Response(200, json={"embeddings": [{"values": [1.0]}]}))
    with pytest.raises(UpstreamError):
        await provider.embed(["a", "b"], "gemini-embedding-001")


async def test_vertex_express_mode_url() -> None:
    provider, fake = make(lambda r: httpx.Response(200, json=reply([{"text": "ok"}])), options={"vertexai": True})
    await provider.chat({"messages": [{"role": "user", "content": "hi"}]}, MODEL)
    assert fake.requests[0].url.path.endswith(f"/publishers/google/models/{MODEL}:generateContent")
    assert fake.requests[0].headers["x-goog-api-key"] == "AIza-test"
    await provider.aclose()
