"""Traces of the flow with the OpenTelemetry SDK, when an OTLP endpoint is configured.

One span per stage (`gureum.<stage>`, nested as the stages are), a sub-call's stages under the
stage that made it, and each provider attempt a CLIENT span named as the GenAI conventions say
(`{operation} {model}`). The provider is the platform's own (not the global one), so several
platforms in one process each export their own spans. Without an endpoint nothing is wrapped:
the flow pays nothing for tracing it does not do. A request carrying a W3C `traceparent` joins
its caller's trace.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from gureum.observability.settings import TracingSettings

T = TypeVar("T")
_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    """The platform's tracer provider and its tracer."""

    def __init__(self, settings: TracingSettings, exporter: SpanExporter | None = None) -> None:
        if exporter is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            assert settings.otlp_endpoint is not None
            exporter = OTLPSpanExporter(endpoint=traces_url(settings.otlp_endpoint), headers=settings.headers)
        self.provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}),
                                       sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)))
        self.provider.add_span_processor(BatchSpanProcessor(exporter))
        self.tracer: Tracer = self.provider.get_tracer("gureum.flow")

    @classmethod
    def create(cls, settings: TracingSettings, exporter: SpanExporter | None = None) -> Tracing | None:
        """None when neither an endpoint nor an exporter is given: tracing off."""
        if exporter is None and not settings.otlp_endpoint:
            return None
        return cls(settings, exporter)

    def shutdown(self) -> None:
        self.provider.shutdown()  # flushes what is queued


def traces_url(endpoint: str) -> str:
    return endpoint.rstrip("/") + "/v1/traces" if urlsplit(endpoint).path in ("", "/") else endpoint


def incoming(headers: dict[str, str]) -> Any:
    """The caller's trace context from a `traceparent` header (None when there is none)."""
    return _PROPAGATOR.extract(headers) if "traceparent" in headers else None


async def client_call(tracer: Tracer, operation: str, model: str, provider: str,
                      call: Callable[[], Awaitable[T]]) -> T:
    """One provider attempt as a CLIENT span; usage is set by the caller once known."""
    with tracer.start_as_current_span(f"{operation} {model}", kind=SpanKind.CLIENT,
                                      attributes=genai_attributes(operation, model, provider)) as span:
        result = await call()
        usage = getattr(result, "usage", None)
        if usage is not None:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
        return result


async def client_stream(tracer: Tracer, operation: str, model: str, provider: str,
                        stream: Callable[[], AsyncIterator[dict[str, Any]]]) -> AsyncIterator[dict[str, Any]]:
    """A streamed provider attempt as a CLIENT span that ends with the stream."""
    span = tracer.start_span(f"{operation} {model}", kind=SpanKind.CLIENT,
                             attributes=genai_attributes(operation, model, provider))
    try:
        with trace.use_span(span, end_on_exit=False):
            it = stream()
        async for chunk in it:
            usage = chunk.get("usage")
            if usage:
                span.set_attribute("gen_ai.usage.input_tokens", int(usage.get("prompt_tokens") or 0))
                span.set_attribute("gen_ai.usage.output_tokens", int(usage.get("completion_tokens") or 0))
            yield chunk
    except GeneratorExit:  # the consumer stopped reading: not an error of the call
        raise
    except BaseException as exc:
        span.record_exception(exc)
        span.set_status(trace.StatusCode.ERROR, type(exc).__name__)
        raise
    finally:
        span.end()


def genai_attributes(operation: str, model: str, provider: str) -> dict[str, str]:
    return {"gen_ai.operation.name": operation, "gen_ai.request.model": model, "gen_ai.provider.name": provider}


def traced_stage(tracer: Tracer, stage: Any, nxt: Any) -> Any:
    """`stage` run inside a span of its own; the outermost stage's span joins an incoming trace."""
    name = f"gureum.{type(stage).__name__.lower()}"

    async def run(ctx: Any) -> Any:
        parent = incoming(ctx.headers) if ctx.parent is None and ctx.headers else None
        with tracer.start_as_current_span(name, context=parent) as span:
            span.set_attribute("gureum.request_id", ctx.request_id)
            span.set_attribute("gureum.operation", ctx.op.name)
            reply = await stage(ctx, nxt)
            span.set_attribute("gureum.status", ctx.status)
            return reply

    return run
