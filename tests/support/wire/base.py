"""The pieces every wire format shares: neutral inputs (`Call`, `Tokens`), one HTTP answer
(`Reply`) in the forms each client reads it, the `Wire` interface, and the `Script` that serves
queued replies and records what reached it."""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, Protocol

import httpx
from botocore.awsrequest import AWSRequest, AWSResponse


@dataclass(frozen=True, slots=True)
class Call:
    """A tool call, in no provider's format."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Tokens:
    prompt: int
    completion: int


@dataclass(frozen=True, slots=True)
class Reply:
    """One HTTP answer as a provider sends it; `pieces` are the body's reads, in order."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    pieces: tuple[bytes, ...] = ()

    @property
    def body(self) -> bytes:
        return b"".join(self.pieces)

    def httpx(self) -> httpx.Response:
        return httpx.Response(self.status, headers=self.headers, stream=_Pieces(self.pieces))

    def aws(self, url: str) -> AWSResponse:
        return AWSResponse(url, self.status, self.headers, _AWSBody(self.pieces))

    def http11(self, pieces: int | None = None) -> bytes:
        """The raw response, each piece one chunk of a chunked body as streaming servers send it;
        with `pieces`, only the start: the first pieces and no final chunk."""
        head = f"HTTP/1.1 {self.status} {HTTPStatus(self.status).phrase}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in self.headers.items()) + "transfer-encoding: chunked\r\n\r\n"
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in self.pieces[:pieces])
        return head.encode() + chunks + (b"0\r\n\r\n" if pieces is None else b"")


class _Pieces(httpx.AsyncByteStream):
    def __init__(self, pieces: tuple[bytes, ...]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece


class _AWSBody:
    """What botocore reads a response body through (urllib3's response in production)."""

    def __init__(self, pieces: tuple[bytes, ...]) -> None:
        self.pieces = pieces

    def stream(self, amt: int = 1024, decode_content: bool | None = None) -> Iterator[bytes]:
        yield from self.pieces

    def read(self, amt: int | None = None) -> bytes:
        return b"".join(self.pieces)

    def close(self) -> None:
        return None


def json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"content-type": "application/json", **(headers or {})}, (json.dumps(payload).encode(),))


def retry_after_header(value: str | None) -> dict[str, str]:
    return {"retry-after": value} if value else {}


def html(status: int = 200) -> Reply:
    """What a proxy or captive portal answers instead of the provider."""
    return Reply(status, {"content-type": "text/html"}, (b"<html><body><h1>502 Bad Gateway</h1></body></html>",))


def tool_result(text: Any) -> Any:
    """A tool result as sent: JSON where it is JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


def halves(text: str) -> list[str]:
    """Tool-call arguments as a provider streams them: JSON text in more than one piece."""
    cut = max(1, len(text) // 2)
    return [text[:cut], text[cut:]]


# --------------------------------------------------------------------------- the interface


class Wire(Protocol):
    """One provider's chat wire format."""

    name: str

    def text(self, text: str, tokens: Tokens) -> Reply: ...
    def tool_calls(self, calls: list[Call], tokens: Tokens, text: str = "") -> Reply: ...
    def text_stream(self, pieces: list[str], tokens: Tokens) -> Reply: ...
    def tool_call_stream(self, calls: list[Call], tokens: Tokens) -> Reply: ...

    def error(self, status: int, message: str, retry_after: str | None = None) -> Reply:
        """The provider's error answer for this HTTP status (or the status it uses for that case)."""
        ...

    def error_in_stream(self, piece: str, status: int, message: str) -> Reply:
        """A stream that starts answering (`piece`), then reports the provider's error in-band."""
        ...

    def broken_stream(self) -> Reply:
        """A 200 stream whose event data is not JSON."""
        ...

    def not_protocol(self) -> Reply:
        """A 200 JSON answer that is not this protocol."""
        ...

    def tools(self, sent: dict[str, Any]) -> dict[str, Any]:
        """The tools a request declared: name -> JSON schema of the arguments."""
        ...

    def history_calls(self, sent: dict[str, Any]) -> list[Call]:
        """The assistant tool calls a request replays from the conversation."""
        ...

    def tool_results(self, sent: dict[str, Any]) -> dict[str, Any]:
        """The tool results a request carries: call id -> result."""
        ...


class EmbedWire(Wire, Protocol):
    counts_embedding_tokens: bool

    def embeddings(self, vectors: list[list[float]], tokens: int) -> Reply: ...


class RerankWire(Wire, Protocol):
    def rerank(self, scores: dict[int, float], tokens: int) -> Reply: ...


@dataclass(frozen=True, slots=True)
class Sent:
    """One request that reached the scripted upstream."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Script:
    """A scripted upstream: each request gets the next queued reply, and is recorded. A request
    with nothing queued fails the test (the adapter sees a transport error it will map, and
    `unexpected` counts it, so a test asserting on `sent` or `unexpected` notices)."""

    def __init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self.sent: list[Sent] = []
        self.unexpected = 0

    def queue(self, *replies: Reply) -> None:
        self._replies.extend(replies)

    @property
    def pending(self) -> int:
        return len(self._replies)

    def _answer(self, sent: Sent) -> Reply:
        self.sent.append(sent)
        if not self._replies:
            self.unexpected += 1
            raise AssertionError(f"unscripted request: {sent.method} {sent.url}")
        return self._replies.popleft()

    def transport(self) -> httpx.MockTransport:
        """For an `httpx.AsyncClient` handed to an adapter (or an SDK)."""

        def handle(request: httpx.Request) -> httpx.Response:
            sent = Sent(request.method, str(request.url), dict(request.headers), request.content)
            return self._answer(sent).httpx()

        return httpx.MockTransport(handle)

    def attach(self, client: Any) -> None:
        """Answer every call of a botocore client (at its HTTP layer: botocore still signs the
        request and parses the answer)."""

        def send(request: AWSRequest, **_: Any) -> AWSResponse:
            body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
            sent = Sent(request.method or "", request.url or "", dict(request.headers.items()), body)
            return self._answer(sent).aws(request.url or "")

        client.meta.events.register("before-send", send)
