"""Bedrock adapter: Converse through botocore's Stubber, ConverseStream through a real binary
event stream served at botocore's HTTP layer (`before-send`), so botocore parses it as in production."""

from __future__ import annotations

import asyncio
import io
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from gureum.errors import InvalidRequest, UpstreamError, UpstreamRateLimited, UpstreamRejected, UpstreamTimeout
from gureum.providers import registry
from gureum.providers.base import ProviderSettings, Usage
from gureum.providers.bedrock import BedrockProvider
from tests.providers.contract import ProviderContract, Rig
from tests.support.wire import BedrockWire, Script, event, exception

MODEL = "anthropic.claude-3-5-sonnet-20240620-v1:0"
METRICS = {"latencyMs": 321}


def make(base_url: str | None = None, timeout: float = 60.0, **options: Any) -> BedrockProvider:
    settings = ProviderSettings(
        kind="bedrock",
        region="ap-northeast-2",
        base_url=base_url,
        timeout=timeout,
        options={"aws_access_key_id": "AKIDTEST", "aws_secret_access_key": "secret", **options},
    )
    provider = registry.create("bedrock-seoul", settings, httpx.AsyncClient())
    assert isinstance(provider, BedrockProvider)
    return provider


def converse_reply(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    counts = {"inputTokens": 20, "outputTokens": 8, **usage}
    counts["totalTokens"] = sum(counts.values())
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": counts,
        "metrics": METRICS,
        "ResponseMetadata": {"RequestId": "5d4e3c2b-req", "HTTPStatusCode": 200},
    }


async def collect(stream: AsyncIterator[dict[str, Any]]) -> list[dict[str, Any]]:
    return [chunk async for chunk in stream]


# --------------------------------------------------------------------------- ConverseStream at botocore's HTTP layer


class RawStream:
    """Stands in for urllib3's response: botocore reads event streams through `.stream()`."""

    def __init__(self, frames: list[bytes], hang: bool = False) -> None:
        self.frames = frames
        self.hang = hang
        self.closed = threading.Event()
        self.finished = threading.Event()  # the reading thread has left the stream

    def stream(self, amt: int = 1024) -> Iterator[bytes]:
        try:
            yield from self.frames
            if self.hang:  # a model that keeps thinking: block like a socket read until closed
                self.closed.wait(10)
                raise ConnectionError("connection closed")
        finally:
            self.finished.set()

    def close(self) -> None:
        self.closed.set()


def serve_stream(provider: BedrockProvider, raw: RawStream) -> list[dict[str, Any]]:
    """Answer ConverseStream at the HTTP layer; returns the JSON bodies botocore sent."""
    sent: list[dict[str, Any]] = []

    def send(request: AWSRequest, **_: Any) -> AWSResponse:
        assert request.url.endswith("/converse-stream")
        sent.append(json.loads(request.body))
        headers = {"content-type": "application/vnd.amazon.eventstream"}
        return AWSResponse(request.url, 200, headers, raw)  # type: ignore[arg-type]

    provider.client.meta.events.register("before-send.bedrock-runtime.ConverseStream", send)
    return sent


class TestBedrockContract(ProviderContract):
    @pytest.fixture
    def rig(self) -> Rig:
        script = Script()
        provider = make()
        script.attach(provider.client)
        return Rig(
            provider, chat_model=MODEL, embed_model="cohere.embed-multilingual-v3", rerank_model=None,
            wire=BedrockWire(), script=script, at=lambda url, timeout: make(base_url=url, timeout=timeout),
        )


# --------------------------------------------------------------------------- chat


async def test_plain_chat_with_system_prompt() -> None:
    provider = make(additional_model_request_fields={"top_k": 40})
    with Stubber(provider.client) as stub:
        stub.add_response(
            "converse",
            converse_reply([{"text": "안녕하세요"}]),
            {
                "modelId": MODEL,
                "system": [{"text": "Be brief."}],
                "messages": [{"role": "user", "content": [{"text": "Hi"}]}],
                "inferenceConfig": {"maxTokens": 64, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END", "STOP"]},
                "additionalModelRequestFields": {"top_k": 40},
            },
        )
        result = await provider.chat(
            {
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                "max_tokens": 64,
                "temperature": 0.2,
                "top_p": 0.9,
                "stop": ["END", "STOP"],
            },
            MODEL,
        )
        stub.assert_no_pending_responses()
    assert result.body["id"] == "chatcmpl-5d4e3c2b-req"
    assert result.body["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "안녕하세요"},
        "finish_reason": "stop",
        "logprobs": None,
    }
    assert result.usage == Usage(prompt_tokens=20, completion_tokens=8)


async def test_tool_call_round_trip() -> None:
    provider = make()
    tools: list[dict[str, Any]] = [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "Find an order",
                "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
            },
        }
    ]
    tool_config = {
        "tools": [
            {
                "toolSpec": {
                    "name": "lookup",
                    "description": "Find an order",
                    "inputSchema": {"json": tools[0]["function"]["parameters"]},
                }
            }
        ],
        "toolChoice": {"any": {}},
    }
    with Stubber(provider.client) as stub:
        stub.add_response(
            "converse",
            converse_reply(
                [
                    {"text": "Looking it up."},
                    {"toolUse": {"toolUseId": "tooluse_kZJMlvQm", "name": "lookup", "input": {"id": "A-7"}}},
                ],
                "tool_use",
            ),
            {
                "modelId": MODEL,
                "messages": [{"role": "user", "content": [{"text": "Where is A-7?"}]}],
                "toolConfig": tool_config,
            },
        )
        messages: list[dict[str, Any]] = [{"role": "user", "content": "Where is A-7?"}]
        first = await provider.chat({"messages": messages, "tools": tools, "tool_choice": "required"}, MODEL)
        reply = first.body["choices"][0]
        assert reply["finish_reason"] == "tool_calls"
        assert reply["message"]["tool_calls"] == [
            {"id": "tooluse_kZJMlvQm", "type": "function", "function": {"name": "lookup", "arguments": '{"id": "A-7"}'}}
        ]

        messages += [
            reply["message"],
            {"role": "tool", "tool_call_id": "tooluse_kZJMlvQm", "content": '{"status": "shipped"}'},
        ]
        stub.add_response(
            "converse",
            converse_reply([{"text": "It shipped."}]),
            {
                "modelId": MODEL,
                "messages": [
                    {"role": "user", "content": [{"text": "Where is A-7?"}]},
                    {
                        "role": "assistant",
                        "content": [
                            {"text": "Looking it up."},
                            {"toolUse": {"toolUseId": "tooluse_kZJMlvQm", "name": "lookup", "input": {"id": "A-7"}}},
                        ],
                    },
                    {
                        "role": "user",
                        "content": [
                            {
                                "toolResult": {
                                    "toolUseId": "tooluse_kZJMlvQm",
                                    "content": [{"text": '{"status": "shipped"}'}],
                                }
                            }
                        ],
                    },
                ],
                # tool_choice "none" cannot drop the tools while the history holds tool blocks.
                "toolConfig": {"tools": tool_config["tools"]},
            },
        )
        second = await provider.chat({"messages": messages, "tools": tools, "tool_choice": "none"}, MODEL)
        stub.assert_no_pending_responses()
    assert second.body["choices"][0]["message"]["content"] == "It shipped."


async def test_images_cache_points_and_cache_usage() -> None:
    provider = make()
    marker = {"type": "ephemeral"}
    with Stubber(provider.client) as stub:
        stub.add_response(
            "converse",
            converse_reply([{"text": "A cat."}], inputTokens=10, cacheReadInputTokens=2000, cacheWriteInputTokens=500),
            {
                "modelId": MODEL,
                "system": [{"text": "Long policy"}, {"cachePoint": {"type": "default"}}],
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"text": "What is this?"},
                            {"image": {"format": "png", "source": {"bytes": b"\x89PNG\r\n\x1a\n"}}},
                            {"document": {"format": "pdf", "name": "report 2024", "source": {"bytes": b"%PDF-"}}},
                            {"cachePoint": {"type": "default", "ttl": "1h"}},
                        ],
                    }
                ],
                "toolConfig": {
                    "tools": [
                        {"toolSpec": {"name": "t", "inputSchema": {"json": {"type": "object"}}}},
                        {"cachePoint": {"type": "default"}},
                    ]
                },
            },
        )
        result = await provider.chat(
            {
                "messages": [
                    {"role": "system", "content": [{"type": "text", "text": "Long policy", "cache_control": marker}]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "What is this?"},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                            {
                                "type": "file",
                                "file": {
                                    "filename": "report_2024.pdf",
                                    "file_data": "data:application/pdf;base64,JVBERi0=",
                                },
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
            MODEL,
        )
        stub.assert_no_pending_responses()
    assert result.usage == Usage(prompt_tokens=2510, completion_tokens=8, cached_tokens=2000, cache_write_tokens=500)
    assert result.body["usage"]["prompt_tokens_details"] == {"cached_tokens": 2000, "cache_write_tokens": 500}


async def test_response_format_json_schema() -> None:
    provider = make()
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    with Stubber(provider.client) as stub:
        stub.add_response(
            "converse",
            converse_reply([{"text": '{"a": 1}'}]),
            {
                "modelId": MODEL,
                "messages": ANY,
                "outputConfig": {
                    "textFormat": {
                        "type": "json_schema",
                        "structure": {"jsonSchema": {"schema": json.dumps(schema), "name": "A"}},
                    }
                },
            },
        )
        await provider.chat(
            {
                "messages": [{"role": "user", "content": "x"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "A", "schema": schema}},
            },
            MODEL,
        )


async def test_client_input_errors_raise_before_calling() -> None:
    provider = make()
    with Stubber(provider.client):  # no responses queued: any call would fail loudly
        for body in (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}
                ]
            },
            {"messages": [{"role": "user", "content": "x"}], "n": 3},
            {"messages": [{"role": "function", "content": "x"}]},
            {"messages": [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f"}}]}]},
        ):
            with pytest.raises(InvalidRequest):
                await provider.chat(body, MODEL)


# --------------------------------------------------------------------------- stream


async def test_stream_text_and_usage() -> None:
    provider = make()
    raw = RawStream(
        [
            event("messageStart", {"role": "assistant"}),
            event("contentBlockDelta", {"delta": {"text": "Hel"}, "contentBlockIndex": 0}),
            event("contentBlockDelta", {"delta": {"text": "lo"}, "contentBlockIndex": 0}),
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event("messageStop", {"stopReason": "max_tokens"}),
            event(
                "metadata",
                {
                    "usage": {"inputTokens": 9, "outputTokens": 2, "totalTokens": 111, "cacheReadInputTokens": 100},
                    "metrics": METRICS,
                },
            ),
        ]
    )
    sent = serve_stream(provider, raw)
    chunks = await collect(
        provider.stream({"messages": [{"role": "user", "content": "hi"}], "max_completion_tokens": 2}, MODEL)
    )

    assert sent == [{"messages": [{"role": "user", "content": [{"text": "hi"}]}], "inferenceConfig": {"maxTokens": 2}}]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == "Hello"
    assert chunks[-2]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 109,
        "completion_tokens": 2,
        "total_tokens": 111,
        "prompt_tokens_details": {"cached_tokens": 100},
    }
    assert raw.closed.is_set()


async def test_stream_tool_call() -> None:
    provider = make()
    raw = RawStream(
        [
            event("messageStart", {"role": "assistant"}),
            event("contentBlockDelta", {"delta": {"text": "Checking"}, "contentBlockIndex": 0}),
            event("contentBlockStop", {"contentBlockIndex": 0}),
            event(
                "contentBlockStart",
                {"start": {"toolUse": {"toolUseId": "tooluse_1", "name": "lookup"}}, "contentBlockIndex": 1},
            ),
            event("contentBlockDelta", {"delta": {"toolUse": {"input": '{"id": '}}, "contentBlockIndex": 1}),
            event("contentBlockDelta", {"delta": {"toolUse": {"input": '"A-7"}'}}, "contentBlockIndex": 1}),
            event("contentBlockStop", {"contentBlockIndex": 1}),
            event("messageStop", {"stopReason": "tool_use"}),
            event(
                "metadata", {"usage": {"inputTokens": 30, "outputTokens": 12, "totalTokens": 42}, "metrics": METRICS}
            ),
        ]
    )
    sent = serve_stream(provider, raw)
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    chunks = await collect(provider.stream({"messages": [{"role": "user", "content": "A-7?"}], "tools": tools}, MODEL))

    assert sent[0]["toolConfig"] == {
        "tools": [{"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}}]
    }
    calls = [tc for c in chunks if c["choices"] for tc in c["choices"][0]["delta"].get("tool_calls", [])]
    assert calls[0] == {
        "index": 0,
        "id": "tooluse_1",
        "type": "function",
        "function": {"name": "lookup", "arguments": ""},
    }
    assert "".join(tc["function"]["arguments"] for tc in calls) == '{"id": "A-7"}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["usage"]["total_tokens"] == 42


@pytest.mark.parametrize(
    ("kind", "expected", "retriable"),
    [
        ("throttlingException", UpstreamRateLimited, True),
        ("modelStreamErrorException", UpstreamError, True),
        ("validationException", UpstreamRejected, False),
    ],
)
async def test_stream_exception_events(kind: str, expected: type[UpstreamError], retriable: bool) -> None:
    provider = make()
    serve_stream(
        provider, RawStream([event("messageStart", {"role": "assistant"}), exception(kind, "mid-stream failure")])
    )
    with pytest.raises(UpstreamError) as info:
        await collect(provider.stream({"messages": [{"role": "user", "content": "hi"}]}, MODEL))
    assert type(info.value) is expected and info.value.retriable is retriable
    assert "mid-stream failure" in info.value.message


async def test_stream_without_metadata_estimates_usage() -> None:
    provider = make()
    serve_stream(
        provider,
        RawStream(
            [
                event("messageStart", {"role": "assistant"}),
                event("contentBlockDelta", {"delta": {"text": "twelve chars"}, "contentBlockIndex": 0}),
                event("messageStop", {"stopReason": "end_turn"}),
            ]
        ),
    )
    chunks = await collect(provider.stream({"messages": [{"role": "user", "content": "hello there"}]}, MODEL))
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert chunks[-1]["usage"]["prompt_tokens"] > 0


async def test_stream_truncated_is_an_upstream_error() -> None:
    provider = make()
    serve_stream(provider, RawStream([event("messageStart", {"role": "assistant"})]))
    with pytest.raises(UpstreamError, match="messageStop"):
        await collect(provider.stream({"messages": [{"role": "user", "content": "hi"}]}, MODEL))


async def test_stream_cancel_closes_connection_and_frees_thread() -> None:
    provider = make()
    raw = RawStream(
        [
            event("messageStart", {"role": "assistant"}),
            event("contentBlockDelta", {"delta": {"text": "x"}, "contentBlockIndex": 0}),
        ],
        hang=True,
    )
    serve_stream(provider, raw)
    stream = provider.stream({"messages": [{"role": "user", "content": "hi"}]}, MODEL)
    async for chunk in stream:
        if chunk["choices"][0]["delta"].get("content") == "x":
            break
    await stream.aclose()  # type: ignore[attr-defined]
    assert raw.closed.is_set()
    # The pump thread, blocked on the "socket", leaves once the connection is dropped.
    assert await asyncio.to_thread(raw.finished.wait, 2)
    await provider.aclose()


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("code", "status", "expected", "retriable"),
    [
        ("ServiceQuotaExceededException", 400, UpstreamRateLimited, True),
        ("ExpiredTokenException", 403, UpstreamRejected, False),
        ("ModelTimeoutException", 408, UpstreamTimeout, True),
        ("ModelNotReadyException", 429, UpstreamError, True),
        ("ModelErrorException", 424, UpstreamError, True),
    ],
)
async def test_client_error_mapping(code: str, status: int, expected: type[UpstreamError], retriable: bool) -> None:
    provider = make()
    with Stubber(provider.client) as stub:
        stub.add_client_error(
            "converse", service_error_code=code, service_message="upstream says no", http_status_code=status
        )
        with pytest.raises(UpstreamError) as info:
            await provider.chat({"messages": [{"role": "user", "content": "hi"}]}, MODEL)
    err = info.value
    assert type(err) is expected
    assert err.retriable is retriable
    assert "upstream says no" in err.message
    if expected is UpstreamRejected:
        assert err.status == status and err.upstream_status == status


# --------------------------------------------------------------------------- embeddings


def _body(payload: dict[str, Any]) -> StreamingBody:
    data = json.dumps(payload).encode()
    return StreamingBody(io.BytesIO(data), len(data))


async def test_embed_titan() -> None:
    provider = make(embed_dimensions=3)
    with Stubber(provider.client) as stub:
        stub.add_response(
            "invoke_model",
            {
                "body": _body({"embedding": [0.1, 0.2, 0.3], "inputTextTokenCount": 4}),
                "contentType": "application/json",
            },
            {
                "modelId": "amazon.titan-embed-text-v2:0",
                "body": json.dumps({"inputText": "구름 위의 도시", "dimensions": 3}),
                "contentType": "application/json",
                "accept": "application/json",
            },
        )
        result = await provider.embed(["구름 위의 도시"], "amazon.titan-embed-text-v2:0")
    assert result.vectors == [[0.1, 0.2, 0.3]]
    assert result.usage.prompt_tokens == 4


async def test_embed_cohere_query_kind() -> None:
    provider = make()
    with Stubber(provider.client) as stub:
        stub.add_response(
            "invoke_model",
            {
                "body": _body(
                    {
                        "id": "e1",
                        "embeddings": [[0.5, 0.5], [1.0, 0.0]],
                        "texts": ["a", "b"],
                        "response_type": "embeddings_floats",
                    }
                ),
                "contentType": "application/json",
                "ResponseMetadata": {"HTTPStatusCode": 200, "HTTPHeaders": {"x-amzn-bedrock-input-token-count": "6"}},
            },
            {
                "modelId": "cohere.embed-multilingual-v3",
                "body": json.dumps({"texts": ["a", "b"], "input_type": "search_query", "truncate": "END"}),
                "contentType": "application/json",
                "accept": "application/json",
            },
        )
        result = await provider.embed(["a", "b"], "cohere.embed-multilingual-v3", kind="query")
    assert result.vectors == [[0.5, 0.5], [1.0, 0.0]]
    assert result.usage.prompt_tokens == 6


async def test_embed_refuses_a_model_it_cannot_map() -> None:
    provider = make()
    with Stubber(provider.client):  # no responses queued: any call would fail loudly
        with pytest.raises(InvalidRequest, match="Titan or Cohere"):
            await provider.embed(["a"], "meta.llama3-8b-instruct-v1:0")
