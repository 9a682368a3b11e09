"""AWS Bedrock adapter: Converse / ConverseStream for chat, InvokeModel for embeddings.

boto3 is synchronous, so every call runs on a small thread pool owned by the provider, and a
ConverseStream is pumped by one thread into an asyncio queue. Credentials come from the usual
boto3 chain (env, profile, instance role, or `AWS_BEARER_TOKEN_BEDROCK` for Bedrock API keys);
the SDK's own retries are off because gureum's router retries and falls back.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import boto3
import botocore.exceptions as bx
import httpx
from botocore.config import Config
from botocore.parsers import ResponseParserError
from urllib3 import exceptions as urllib3_errors

from gureum.errors import (
    GureumError,
    InvalidRequest,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
)
from gureum.providers import shapes
from gureum.providers.base import ChatResult, EmbedResult, Provider, ProviderSettings, RerankResult, Usage
from gureum.providers.base import map_errors, retry_after
from gureum.providers.converse import StreamTranslator, from_converse_response, to_converse_request
from gureum.providers.registry import register
from gureum.tokens import estimate_tokens

__all__ = ["BedrockProvider", "from_converse_response", "map_error", "to_converse_request"]

T = TypeVar("T")


# Error codes compared lower-cased: ConverseStream reports them camelCase ("throttlingException").
_RATE_LIMITED = {"throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception"}
_TIMEOUT = {"modeltimeoutexception", "requesttimeout", "requesttimeoutexception"}
_RETRIABLE = {
    "internalserverexception",
    "serviceunavailableexception",
    "modelnotreadyexception",
    "modelstreamerrorexception",
    "modelerrorexception",
    "internalfailure",
    "serviceunavailable",
}
_REJECTED = {
    "validationexception": 400,
    "accessdeniedexception": 403,
    "unrecognizedclientexception": 403,
    "invalidsignatureexception": 403,
    "expiredtokenexception": 403,
    "resourcenotfoundexception": 404,
}


# --------------------------------------------------------------------------- errors


def map_error(exc: Exception) -> GureumError:
    """The one place boto3/botocore failures become gureum errors (applied by `_ERRORS`)."""
    if isinstance(exc, bx.ClientError):  # includes EventStreamError raised mid-stream
        error = exc.response.get("Error") or {}
        code = str(error.get("Code") or "")
        metadata = exc.response.get("ResponseMetadata") or {}
        status = int(metadata.get("HTTPStatusCode") or 0) or None
        wait = retry_after({k.lower(): v for k, v in (metadata.get("HTTPHeaders") or {}).items()})
        message = f"bedrock {code}: {error.get('Message') or exc}"
        key = code.lower()
        if key in _RATE_LIMITED or (status == 429 and key not in _RETRIABLE):
            return UpstreamRateLimited(message, upstream_status=429, headers=wait)
        if key in _TIMEOUT or status in (408, 504):
            return UpstreamTimeout(message, upstream_status=status or 408)
        if key in _RETRIABLE or (status or 0) >= 500:
            return UpstreamError(message, retriable=True, upstream_status=status, headers=wait)
        if key in _REJECTED or (status is not None and 400 <= status < 500):
            return UpstreamRejected(message, upstream_status=_REJECTED.get(key, status or 400))
        return UpstreamError(message, retriable=True, upstream_status=status)
    # A ConverseStream body is read through urllib3 after botocore returns, so a stall or a drop
    # mid-stream raises urllib3's own errors, not botocore's.
    if isinstance(exc, (bx.ReadTimeoutError, bx.ConnectTimeoutError, urllib3_errors.TimeoutError)):
        return UpstreamTimeout(f"bedrock: timed out ({type(exc).__name__})")
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.HTTPClientError, ConnectionError,
                        urllib3_errors.ProtocolError)):
        return UpstreamError(f"bedrock: connection failed ({exc})", retriable=True)
    if isinstance(exc, bx.NoCredentialsError):
        # Our configuration, not the request: another deployment may still serve it.
        return UpstreamError(f"bedrock: no AWS credentials ({exc})", retriable=True)
    if isinstance(exc, bx.ParamValidationError):
        return InvalidRequest(f"bedrock: request not accepted by the Converse schema: {exc}", param="messages")
    if isinstance(exc, (shapes.MalformedReply, ResponseParserError, ValueError, KeyError, TypeError, AttributeError)):
        return UpstreamError(f"bedrock: response is not the Converse protocol ({exc})", retriable=True)
    return UpstreamError(f"bedrock: {type(exc).__name__}: {exc}", retriable=True)


_ERRORS = map_errors(map_error)


# --------------------------------------------------------------------------- provider


class BedrockProvider:
    def __init__(self, name: str, settings: ProviderSettings, http: httpx.AsyncClient, client: Any = None) -> None:
        self.name = name
        options = settings.options
        # A dedicated pool: a stream holds its thread for the whole answer, and the default executor
        # (shared with everything else in the process) is far too small for a gateway.
        workers = int(options.get("max_concurrency", 64))
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"bedrock-{name}")
        self._options = options
        self.client = client or self._make_client(name, settings, workers)

    @staticmethod
    def _make_client(name: str, settings: ProviderSettings, workers: int) -> Any:
        options = settings.options
        session = boto3.session.Session(
            profile_name=options.get("profile"),
            aws_access_key_id=options.get("aws_access_key_id"),
            aws_secret_access_key=options.get("aws_secret_access_key"),
            aws_session_token=options.get("aws_session_token"),
            region_name=settings.region,
        )
        config = Config(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.timeout,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=workers,
            user_agent_extra="gureum",
        )
        try:
            return session.client("bedrock-runtime", endpoint_url=settings.base_url, config=config)
        except bx.NoRegionError as exc:
            raise InvalidRequest(f"provider '{name}': set `region` for Bedrock") from exc

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        # A cancelled await returns at once, but boto3 cannot be interrupted: the thread finishes
        # its call (bounded by read_timeout) and the answer is dropped.
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, lambda: fn(*args, **kwargs))

    async def chat(self, body: dict[str, Any], model: str) -> ChatResult:
        request = to_converse_request(body, model, self._options)
        with _ERRORS:
            raw = await self._run(self.client.converse, **request)
            return from_converse_response(raw, model)

    async def stream(self, body: dict[str, Any], model: str) -> AsyncIterator[dict[str, Any]]:
        request = to_converse_request(body, model, self._options)
        loop = asyncio.get_running_loop()
        # Unbounded is fine: an answer is bounded by max tokens, and the pump must never block
        # on a consumer that has gone away.
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()
        holder: dict[str, Any] = {}

        def put(item: tuple[str, Any]) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is gone; nobody is listening
                stop.set()

        def pump() -> None:
            try:
                events = self.client.converse_stream(**request)["stream"]
                holder["events"] = events
                if stop.is_set():
                    events.close()
                    return
                for event in events:
                    if stop.is_set():
                        break
                    put(("event", event))
                put(("end", None))
            except Exception as exc:
                put(("error", exc))
            finally:
                if "events" in holder:
                    holder["events"].close()

        translator = StreamTranslator(model)
        try:
            with _ERRORS:
                loop.run_in_executor(self._pool, pump)
                while True:
                    kind, item = await queue.get()
                    if kind == "error":
                        raise item
                    if kind == "end":
                        break
                    for chunk in translator.feed(item):
                        yield chunk
                yield translator.final(body)
        finally:
            # Consumer finished, failed or was cancelled: stop the pump and drop the connection,
            # which unblocks a thread waiting on the socket.
            stop.set()
            if "events" in holder:
                holder["events"].close()

    async def embed(self, inputs: list[str], model: str, *, kind: str = "passage") -> EmbedResult:
        with _ERRORS:
            if model.startswith("cohere.embed") or ".cohere.embed" in model:
                return await self._embed_cohere(inputs, model, kind)
            if "titan-embed" in model:
                return await self._embed_titan(inputs, model)
        raise InvalidRequest(f"embedding model '{model}' is not supported (Titan or Cohere embed)", param="model")

    async def _invoke(self, model: str, payload: dict[str, Any]) -> tuple[dict[str, Any], int]:
        raw = await self._run(
            self.client.invoke_model,
            modelId=model,
            body=json.dumps(payload),
            contentType="application/json",
            accept="application/json",
        )
        data = json.loads(raw["body"].read())
        headers = (raw.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
        return data, int(headers.get("x-amzn-bedrock-input-token-count") or 0)

    async def _embed_titan(self, inputs: list[str], model: str) -> EmbedResult:
        # Titan embeds one text per call; run them side by side on the pool.
        extra = {k: self._options[f"embed_{k}"] for k in ("dimensions", "normalize") if f"embed_{k}" in self._options}
        results = await asyncio.gather(*(self._invoke(model, {"inputText": text, **extra}) for text in inputs))
        vectors = [[float(x) for x in data["embedding"]] for data, _ in results]
        tokens = sum(int(data.get("inputTextTokenCount") or header) for data, header in results)
        return EmbedResult(vectors=vectors, usage=Usage(prompt_tokens=tokens))

    async def _embed_cohere(self, inputs: list[str], model: str, kind: str) -> EmbedResult:
        input_type = "search_query" if kind == "query" else "search_document"
        vectors: list[list[float]] = []
        tokens = 0
        for start in range(0, len(inputs), 96):  # Cohere's per-call limit
            data, header = await self._invoke(
                model, {"texts": inputs[start : start + 96], "input_type": input_type, "truncate": "END"}
            )
            embeddings = data["embeddings"]
            if isinstance(embeddings, dict):  # embed-v4 / embedding_types answers {"float": [...]}
                embeddings = embeddings["float"]
            vectors.extend([float(x) for x in row] for row in embeddings)
            # Cohere's body has no count; Bedrock's header does. Estimate if a proxy dropped it.
            tokens += header or sum(estimate_tokens(t) for t in inputs[start : start + 96])
        return EmbedResult(vectors=vectors, usage=Usage(prompt_tokens=tokens))

    async def rerank(self, query: str, documents: list[str], model: str, top_n: int | None = None) -> RerankResult:
        raise InvalidRequest("Bedrock's Rerank API (bedrock-agent-runtime) is not mapped; route reranking to "
                             "another provider", param="model")

    async def aclose(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


@register("bedrock")
def create(name: str, settings: ProviderSettings, http: httpx.AsyncClient) -> Provider:
    return BedrockProvider(name, settings, http)
