"""What every provider adapter promises, as one suite run against each (Haystack's
DocumentStoreBaseTests idea; `tests/knowledge/test_connectors.py:ConnectorContract` for connectors).

A test module subclasses `ProviderContract` and overrides one fixture, `rig`: the adapter, the
models to call, and — for an adapter with an upstream — that provider's `Wire` and a `Script`
serving it at the client's HTTP layer, plus `at(url, timeout)` building the same adapter against a
real socket (for timeouts, refused and reset connections). The suite then checks, in OpenAI's
terms, what the flow relies on: a chat.completion with our `Usage`; chunks whose last carries the
usage; tool calls both ways; embeddings and rerank scores, or `InvalidRequest` where the provider
has none; and every failure mapped into gureum's error tree with the retry decision the router
needs — mid-stream too. An adapter without an upstream (the local models) runs the part that
applies; the rest is skipped, saying why.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, cast

import httpx
import pytest

from gureum.errors import InvalidRequest, UpstreamError, UpstreamRateLimited, UpstreamRejected, UpstreamTimeout
from gureum.providers import registry
from gureum.providers.base import EmbedResult, Provider, ProviderSettings, RerankResult, Usage
from tests.support.raw import raw_server, refusing_port
from tests.support.wire import Call, EmbedWire, RerankWire, Reply, Script, Tokens, Wire, html, openai_tool_calls

__all__ = ["ProviderContract", "Rig", "httpx_rig"]

TOKENS = Tokens(prompt=12, completion=5)
ASK = {"messages": [{"role": "user", "content": "Name one kind of cloud."}], "max_tokens": 16, "temperature": 0}
PIECES = ["구름", " 위의", " 하늘"]
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather by city", "parameters": WEATHER}},
    {"type": "function", "function": {"name": "get_time", "parameters": {"type": "object", "properties": {}}}},
]
CALLS = [Call("call_wire_1", "get_weather", {"city": "서울"}), Call("call_wire_2", "get_time", {})]
DOCS = ["구름은 하늘에 떠 있다", "The VPN must be used on public Wi-Fi.", "연차는 15일이다"]
FINISH = {"stop", "length", "tool_calls", "content_filter"}
OPERATIONS = ["chat", "stream", "embed", "rerank"]


@dataclass
class Rig:
    """One adapter under the contract."""

    provider: Provider
    chat_model: str | None  # None: this install has no chat model for the adapter
    embed_model: str | None  # None: the provider has no embeddings, so `embed` must refuse
    rerank_model: str | None  # None: likewise for `rerank`
    wire: Wire | None = None  # None: no upstream to script (the model runs in process)
    script: Script | None = None
    at: Callable[[str, float], Provider] | None = None  # the adapter at a raw socket, with this timeout

    def queue(self, build: Callable[[Wire], Reply]) -> bool:
        """Queue the upstream's next answer; False where there is no upstream, and a test then
        checks the shape of what the model says rather than its words."""
        if self.wire is None or self.script is None:
            return False
        self.script.queue(build(self.wire))
        return True

    def upstream(self) -> tuple[Wire, Script]:
        if self.wire is None or self.script is None:
            pytest.skip("no upstream: this adapter runs its model in process")
        return self.wire, self.script

    def reconnected(self, url: str, timeout: float) -> Provider:
        if self.at is None:
            pytest.skip("no upstream connection: this adapter runs its model in process")
        return self.at(url, timeout)

    def chat(self) -> str:
        if self.chat_model is None:
            pytest.skip("no chat model in this install (the local one needs the gureum[local] extra)")
        return self.chat_model

    def model_for(self, operation: str) -> str:
        model = {"chat": self.chat_model, "stream": self.chat_model, "embed": self.embed_model,
                 "rerank": self.rerank_model}[operation]
        if model is None:
            pytest.skip(f"the provider has no {operation} models")
        return model


def httpx_rig(
    kind: str, wire: Wire, *, base_url: str, chat_model: str, embed_model: str | None = None,
    rerank_model: str | None = None, path: str = "", **settings: Any,
) -> Rig:
    """The rig of an adapter that takes an `httpx.AsyncClient`: scripted through MockTransport, or
    at a raw socket (`path` is what base_url adds to the server's address, e.g. `/v1`)."""
    script = Script()

    def build(url: str, timeout: float, transport: httpx.AsyncBaseTransport | None) -> Provider:
        config = ProviderSettings(kind=kind, base_url=url, timeout=timeout, **settings)
        return registry.create(f"{kind}-contract", config, httpx.AsyncClient(transport=transport))

    return Rig(
        provider=build(base_url, 60.0, script.transport()), chat_model=chat_model, embed_model=embed_model,
        rerank_model=rerank_model, wire=wire, script=script,
        at=lambda url, timeout: build(url + path, timeout, None),
    )


Chunks = list[dict[str, Any]]


async def _collect(stream: AsyncIterator[dict[str, Any]], into: Chunks | None = None) -> Chunks:
    """The whole stream; `into` keeps what arrived when the stream fails."""
    chunks = into if into is not None else []
    async for chunk in stream:
        chunks.append(chunk)
    return chunks


async def _call(rig: Rig, operation: str, provider: Provider | None = None) -> Any:
    provider = provider or rig.provider
    model = rig.model_for(operation)
    if operation == "chat":
        return await provider.chat(ASK, model)
    if operation == "stream":
        return await _collect(provider.stream({**ASK, "stream": True}, model))
    if operation == "embed":
        return await provider.embed(["구름"], model)
    return await provider.rerank("연차는 며칠?", DOCS, model)


def _text(chunks: list[dict[str, Any]]) -> str:
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


class ProviderContract:
    """Override `rig` with the adapter under test."""

    @pytest.fixture
    def rig(self) -> Rig:
        raise NotImplementedError

    @pytest.fixture(autouse=True)
    def _everything_scripted_was_asked(self, rig: Rig) -> Iterator[None]:
        yield
        if rig.script is not None:
            assert rig.script.unexpected == 0, "the adapter made a request the test did not script"

    # ------------------------------------------------------------------ replies in OpenAI's shape

    async def test_chat_returns_an_openai_completion_with_our_usage(self, rig: Rig) -> None:
        exact = rig.queue(lambda w: w.text("구름 위의 하늘", TOKENS))
        result = await rig.provider.chat(ASK, rig.chat())
        body = result.body
        assert body["object"] == "chat.completion" and isinstance(body["id"], str) and body["id"]
        assert isinstance(body["created"], int) and isinstance(body["model"], str)
        (choice,) = body["choices"]
        assert choice["index"] == 0 and choice["message"]["role"] == "assistant"
        assert choice["finish_reason"] in FINISH
        assert isinstance(choice["message"]["content"], str) and choice["message"]["content"].strip()
        assert isinstance(result.usage, Usage) and body["usage"] == result.usage.to_openai()
        assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
        if exact:
            assert choice["message"] == {"role": "assistant", "content": "구름 위의 하늘"}
            assert choice["finish_reason"] == "stop"
            assert result.usage == Usage(prompt_tokens=12, completion_tokens=5)

    async def test_stream_yields_openai_chunks_and_the_last_carries_usage(self, rig: Rig) -> None:
        exact = rig.queue(lambda w: w.text_stream(PIECES, TOKENS))
        chunks = await _collect(rig.provider.stream({**ASK, "stream": True}, rig.chat()))
        *answer, last = chunks
        assert all(c["object"] == "chat.completion.chunk" for c in chunks)
        assert len({c["id"] for c in chunks}) == 1, "every chunk of one stream has the same id"
        assert answer and all(len(c["choices"]) == 1 and c["choices"][0]["index"] == 0 for c in answer)
        assert answer[0]["choices"][0]["delta"]["role"] == "assistant"
        finishes = [c["choices"][0]["finish_reason"] for c in answer if c["choices"][0]["finish_reason"]]
        assert len(finishes) == 1 and finishes[0] in FINISH
        assert last["choices"] == [] and last["usage"]["prompt_tokens"] > 0 and last["usage"]["completion_tokens"] > 0
        assert _text(answer).strip()
        if exact:
            assert _text(answer) == "".join(PIECES) and finishes == ["stop"]
            assert last["usage"] == Usage(prompt_tokens=12, completion_tokens=5).to_openai()

    async def test_embed_returns_vectors_and_usage(self, rig: Rig) -> None:
        model = rig.model_for("embed")
        vectors = [[0.25, -0.5, 1.0], [0.0, 0.125, -1.0]]
        exact = rig.queue(lambda w: cast(EmbedWire, w).embeddings(vectors, 7))
        result = await rig.provider.embed(["구름 위의 도시", "a cloud over Seoul"], model, kind="passage")
        assert isinstance(result, EmbedResult) and len(result.vectors) == 2
        assert len({len(v) for v in result.vectors}) == 1
        assert all(isinstance(x, float) for v in result.vectors for x in v)
        assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens == 0
        if exact:
            assert result.vectors == vectors
            if cast(EmbedWire, rig.wire).counts_embedding_tokens:
                assert result.usage.prompt_tokens == 7

    async def test_embed_is_refused_where_the_provider_has_none(self, rig: Rig) -> None:
        if rig.embed_model is not None:
            pytest.skip("the provider has embedding models")
        with pytest.raises(InvalidRequest):
            await rig.provider.embed(["구름"], "any-embedding-model")
        assert rig.script is None or rig.script.sent == []

    async def test_rerank_returns_scores_and_usage(self, rig: Rig) -> None:
        model = rig.model_for("rerank")
        exact = rig.queue(lambda w: cast(RerankWire, w).rerank({2: 0.91, 0: 0.12}, 30))
        result = await rig.provider.rerank("연차는 며칠?", DOCS, model, top_n=2)
        assert isinstance(result, RerankResult) and set(result.scores) <= set(range(len(DOCS)))
        assert result.usage.prompt_tokens > 0
        if exact:
            assert result.scores == {2: 0.91, 0: 0.12} and result.usage.prompt_tokens == 30

    async def test_rerank_is_refused_where_the_provider_has_none(self, rig: Rig) -> None:
        if rig.rerank_model is not None:
            pytest.skip("the provider has rerank models")
        with pytest.raises(InvalidRequest, match="rerank"):
            await rig.provider.rerank("q", DOCS, "any-rerank-model")
        assert rig.script is None or rig.script.sent == []

    # ------------------------------------------------------------------ tool calls, both ways

    async def test_tool_calls_round_trip_between_openai_and_the_wire(self, rig: Rig) -> None:
        wire, script = rig.upstream()
        script.queue(wire.tool_calls(CALLS, TOKENS, text="확인해 볼게요."), wire.text("서울은 맑고 3시예요.", TOKENS))
        ask: dict[str, Any] = {"messages": [{"role": "user", "content": "서울 날씨와 시각은?"}], "tools": TOOLS}
        first = await rig.provider.chat(ask, rig.chat())

        declared = wire.tools(script.sent[0].json())
        assert declared == {"get_weather": WEATHER, "get_time": {"type": "object", "properties": {}}}
        (choice,) = first.body["choices"]
        assert choice["finish_reason"] == "tool_calls"
        assert choice["message"]["content"] == "확인해 볼게요."
        calls = choice["message"]["tool_calls"]
        assert [(c["id"], c["type"], c["function"]["name"]) for c in calls] == [
            ("call_wire_1", "function", "get_weather"), ("call_wire_2", "function", "get_time")]
        assert [json.loads(c["function"]["arguments"]) for c in calls] == [{"city": "서울"}, {}]
        assert first.usage == Usage(prompt_tokens=12, completion_tokens=5)

        history = [
            *ask["messages"],
            choice["message"],
            {"role": "tool", "tool_call_id": "call_wire_1", "content": '{"sky": "맑음"}'},
            {"role": "tool", "tool_call_id": "call_wire_2", "content": '{"time": "15:00"}'},
        ]
        second = await rig.provider.chat({"messages": history, "tools": TOOLS}, rig.chat())
        sent = script.sent[1].json()
        assert wire.history_calls(sent) == CALLS
        assert wire.tool_results(sent) == {"call_wire_1": {"sky": "맑음"}, "call_wire_2": {"time": "15:00"}}
        assert second.body["choices"][0]["message"]["content"] == "서울은 맑고 3시예요."

    async def test_streamed_tool_calls_arrive_in_openai_shape(self, rig: Rig) -> None:
        wire, script = rig.upstream()
        script.queue(wire.tool_call_stream(CALLS, TOKENS))
        chunks = await _collect(rig.provider.stream({**ASK, "tools": TOOLS, "stream": True}, rig.chat()))
        assert wire.tools(script.sent[0].json()).keys() == {"get_weather", "get_time"}
        calls = openai_tool_calls(chunks)
        assert [(c["id"], c["type"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in calls] == [
            ("call_wire_1", "function", "get_weather", {"city": "서울"}), ("call_wire_2", "function", "get_time", {})]
        finishes = [c["choices"][0]["finish_reason"] for c in chunks[:-1]]
        assert [f for f in finishes if f] == ["tool_calls"]
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == Usage(12, 5).to_openai()

    # ------------------------------------------------------------------ the provider's errors

    @pytest.mark.parametrize("operation", OPERATIONS)
    @pytest.mark.parametrize("status", [400, 401, 403, 404])
    async def test_refusal_is_passed_on_and_not_retried(self, rig: Rig, status: int, operation: str) -> None:
        """A bad request, a bad key, no permission, an unknown model: another try cannot help, so
        the client gets the provider's status and message."""
        wire, script = rig.upstream()
        rig.model_for(operation)
        reply = wire.error(status, "provider says no")
        script.queue(reply)
        with pytest.raises(UpstreamRejected) as info:
            await _call(rig, operation)
        err = info.value
        assert type(err) is UpstreamRejected and not err.retriable
        assert err.status == err.upstream_status == reply.status
        assert "provider says no" in err.message

    @pytest.mark.parametrize("operation", OPERATIONS)
    async def test_rate_limit_is_retried_and_keeps_retry_after(self, rig: Rig, operation: str) -> None:
        wire, script = rig.upstream()
        rig.model_for(operation)
        script.queue(wire.error(429, "slow down", retry_after="7"))
        with pytest.raises(UpstreamRateLimited) as info:
            await _call(rig, operation)
        err = info.value
        assert err.retriable and err.status == 429 and err.upstream_status == 429
        assert err.headers == {"retry-after": "7"} and "slow down" in err.message

    @pytest.mark.parametrize("operation", OPERATIONS)
    @pytest.mark.parametrize("status", [500, 503])
    async def test_server_error_is_retried(self, rig: Rig, status: int, operation: str) -> None:
        wire, script = rig.upstream()
        rig.model_for(operation)
        script.queue(wire.error(status, "try again later"))
        with pytest.raises(UpstreamError) as info:
            await _call(rig, operation)
        err = info.value
        assert type(err) is UpstreamError and err.retriable and err.upstream_status == status
        assert "try again later" in err.message

    @pytest.mark.parametrize("operation", OPERATIONS)
    async def test_proxy_error_page_is_retried(self, rig: Rig, operation: str) -> None:
        _, script = rig.upstream()
        rig.model_for(operation)
        script.queue(html(502))
        with pytest.raises(UpstreamError) as info:
            await _call(rig, operation)
        assert type(info.value) is UpstreamError and info.value.retriable and info.value.upstream_status == 502

    @pytest.mark.parametrize("operation", OPERATIONS)
    @pytest.mark.parametrize("garbage", ["html", "not the protocol"])
    async def test_an_answer_that_is_not_the_protocol_is_retried(self, rig: Rig, garbage: str, operation: str) -> None:
        wire, script = rig.upstream()
        rig.model_for(operation)
        if garbage == "html":
            script.queue(html(200))
        else:
            script.queue(wire.broken_stream() if operation == "stream" else wire.not_protocol())
        with pytest.raises(UpstreamError) as info:
            await _call(rig, operation)
        assert type(info.value) is UpstreamError and info.value.retriable

    # ------------------------------------------------------------------ the connection's failures

    @pytest.mark.parametrize("operation", OPERATIONS)
    async def test_timeout_is_an_upstream_timeout(self, rig: Rig, operation: str) -> None:
        rig.model_for(operation)
        with raw_server(then="hang") as url:
            provider = rig.reconnected(url, 0.5)
            with pytest.raises(UpstreamTimeout) as info:
                await _call(rig, operation, provider)
        assert info.value.retriable

    @pytest.mark.parametrize("operation", OPERATIONS)
    @pytest.mark.parametrize("server", [refusing_port, raw_server], ids=["refused", "reset"])
    async def test_lost_connection_is_retried(self, rig: Rig, server: Callable[[], Any], operation: str) -> None:
        rig.model_for(operation)
        with server() as url:
            with pytest.raises(UpstreamError) as info:
                await _call(rig, operation, rig.reconnected(url, 5.0))
        assert type(info.value) is UpstreamError and info.value.retriable

    # ------------------------------------------------------------------ failures mid-stream

    async def test_error_event_mid_stream_is_mapped(self, rig: Rig) -> None:
        wire, script = rig.upstream()
        script.queue(wire.error_in_stream("구름", 503, "model overloaded"))
        received: Chunks = []
        with pytest.raises(UpstreamError) as info:
            await _collect(rig.provider.stream(ASK, rig.chat()), received)
        assert _text(received) == "구름", "what came before the error reached the consumer"
        assert info.value.retriable and "model overloaded" in info.value.message

    @pytest.mark.parametrize("then", ["reset", "hang"])
    async def test_connection_lost_mid_stream_is_mapped(self, rig: Rig, then: Literal["reset", "hang"]) -> None:
        wire, _ = rig.upstream()
        model = rig.chat()
        answer = wire.text_stream(PIECES, TOKENS).http11(pieces=2)  # the headers and two events, no end
        received: Chunks = []
        # A reset waits a second, so even a loaded machine has read what came first.
        with raw_server(answer, then=then, after=1.0) as url:
            provider = rig.reconnected(url, 1.0 if then == "hang" else 5.0)
            with pytest.raises(UpstreamError) as info:
                await _collect(provider.stream(ASK, model), received)
        assert received, "the events before the loss reached the consumer"
        assert type(info.value) is (UpstreamTimeout if then == "hang" else UpstreamError) and info.value.retriable
