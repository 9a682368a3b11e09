"""Traces of the flow, exported to the SDK's in-memory exporter by a real platform (real
PostgreSQL, the fake OpenAI-wire upstream on loopback): a span per stage nested in flow order, the
provider attempt as a CLIENT span with the GenAI attributes and usage, a streamed call's client
span ending with its stream, an incoming `traceparent` joined, and the trace ids in JSON logs."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from gureum.flow.gateway import Request
from gureum.flow.operations import CHAT
from gureum.governance.principal import Principal, Role
from gureum.logs import JsonFormatter
from gureum.observability.settings import TracingSettings
from gureum.observability.tracing import Tracing, traces_url
from gureum.platform import Platform
from tests.conftest import gateway_settings
from tests.support.fake_openai import FakeOpenAI

TENANT = f"tr{uuid.uuid4().hex[:6]}"
STAGES = ["audit", "identify", "parse", "account", "authorize", "retrieve", "guard", "limits", "cache", "route",
          "fitcontext", "call"]
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
async def env(database_url: str, upstream: tuple[FakeOpenAI, str],
              tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, Any]]:
    exporter = InMemorySpanExporter()
    settings = gateway_settings(database_url, {"fake": upstream[1]}, Path(tmp_path_factory.mktemp("trace")),
                                cache={"enabled": False})
    platform = await Platform.start(settings, bootstrap_keys=False, span_exporter=exporter)
    await platform.keys.create(tenant_id=TENANT, role=Role.MEMBER, user_id="u1", create_tenant=True)
    principal = Principal(tenant_id=TENANT, key_id="service:trace-test", role=Role.MEMBER, user_id="u1")
    yield {"platform": platform, "exporter": exporter, "principal": principal}
    await platform.stop()


def _spans(env: dict[str, Any], request_id: str) -> list[ReadableSpan]:
    env["platform"].tracing.provider.force_flush()
    spans: list[ReadableSpan] = list(env["exporter"].get_finished_spans())
    roots = {s.context.trace_id for s in spans if (s.attributes or {}).get("gureum.request_id") == request_id}
    return [s for s in spans if s.context.trace_id in roots]


async def test_one_span_per_stage_and_a_client_span(env: dict[str, Any]) -> None:
    reply = await env["platform"].complete(env["principal"], Request(
        CHAT, {"model": "gpt-test", "messages": [{"role": "user", "content": "trace me"}]}, "gpt-test"))
    rid = reply.headers["x-request-id"]
    spans = _spans(env, rid)
    by_name = {s.name: s for s in spans}
    assert [n for n in (f"gureum.{s}" for s in STAGES) if n in by_name] == [f"gureum.{s}" for s in STAGES]
    # Nested in flow order: each stage's parent is the stage before it.
    for outer, inner in zip(STAGES, STAGES[1:], strict=False):
        assert by_name[f"gureum.{inner}"].parent.span_id == by_name[f"gureum.{outer}"].context.span_id  # type: ignore[union-attr]
    assert by_name["gureum.audit"].parent is None
    client = by_name["chat fake-model"]
    assert client.kind is SpanKind.CLIENT
    assert client.parent.span_id == by_name["gureum.call"].context.span_id  # type: ignore[union-attr]
    attrs = dict(client.attributes or {})
    usage = reply.body["usage"]  # type: ignore[index]
    assert attrs == {"gen_ai.operation.name": "chat", "gen_ai.request.model": "fake-model",
                     "gen_ai.provider.name": "fake", "gen_ai.usage.input_tokens": usage["prompt_tokens"],
                     "gen_ai.usage.output_tokens": usage["completion_tokens"]}
    assert by_name["gureum.audit"].attributes["gureum.status"] == 200  # type: ignore[index]


async def test_incoming_traceparent_and_a_stream(env: dict[str, Any]) -> None:
    headers = {"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"}
    body = {"model": "gpt-test", "stream": True, "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "stream me"}]}
    reply = await env["platform"].complete(env["principal"], Request(CHAT, body, "gpt-test", stream=True,
                                                                      headers=headers))
    assert reply.stream is not None
    chunks = [c async for c in reply.stream]
    usage = next(c["usage"] for c in chunks if c.get("usage"))
    spans = _spans(env, reply.headers["x-request-id"])
    assert {format(s.context.trace_id, "032x") for s in spans} == {TRACE_ID}
    root = next(s for s in spans if s.name == "gureum.audit")
    assert root.parent is not None and format(root.parent.span_id, "016x") == "00f067aa0ba902b7"
    client = next(s for s in spans if s.kind is SpanKind.CLIENT)
    assert client.attributes["gen_ai.usage.output_tokens"] == usage["completion_tokens"]  # type: ignore[index]
    # The client span lasted as long as the stream, which outlives the call stage's own span.
    call = next(s for s in spans if s.name == "gureum.call")
    assert client.end_time is not None and call.end_time is not None and client.end_time > call.end_time


async def test_trace_ids_in_json_logs(env: dict[str, Any]) -> None:
    tracer = env["platform"].tracing.tracer
    record = logging.LogRecord("gureum.test", logging.INFO, __file__, 1, "inside", None, None)
    assert "trace_id" not in orjson.loads(JsonFormatter().format(record))
    with tracer.start_as_current_span("outer") as span:
        line = orjson.loads(JsonFormatter().format(record))
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert line["span_id"] == format(span.get_span_context().span_id, "016x")


def test_off_without_an_endpoint() -> None:
    assert Tracing.create(TracingSettings()) is None
    assert Tracing.create(TracingSettings(otlp_endpoint="http://collector:4318")) is not None
    assert traces_url("http://collector:4318") == "http://collector:4318/v1/traces"
    assert traces_url("http://collector:4318/custom/traces") == "http://collector:4318/custom/traces"
