"""Reading and building OpenAI-format objects, for the adapters that translate another protocol.

gureum speaks OpenAI's chat.completions format on both sides (see `base`). The Anthropic,
Bedrock and Gemini adapters read the same request fields and write the same reply and chunk
objects; that half of each translation lives here once, so the adapters cannot drift apart in
details a client notices (key order, `logprobs: None`, tool-call argument JSON, the usage-only
final chunk, which malformed input is the client's error) and each adapter keeps only what is
its provider's own. Nothing here knows a provider.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from gureum.errors import InvalidRequest
from gureum.providers.base import ChatResult, Usage
from gureum.tokens import estimate_messages, estimate_tokens

__all__ = [
    "ChunkBuilder",
    "DataURL",
    "FinishReason",
    "MalformedReply",
    "StreamedToolCalls",
    "assistant_message",
    "chat_result",
    "choice",
    "completion_id",
    "content_parts",
    "estimated_usage",
    "image_url",
    "inline_file_data",
    "malformed_request",
    "max_tokens",
    "parse_data_url",
    "require_one_choice",
    "split_messages",
    "stop_sequences",
    "tool_arguments",
    "tool_call",
    "tool_function",
    "usage_chunk",
    "usage_with_cache",
]

# The finish reasons an OpenAI client understands; each adapter maps its provider's words to these.
FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]

Block = TypeVar("Block")  # one unit of a provider's message content (a dict, an SDK part …)


class MalformedReply(Exception):
    """A 2xx reply that is not the provider's protocol; each adapter's `map_error` makes it an
    upstream error, so the router falls back rather than passing garbage on."""


# --------------------------------------------------------------------------- reading requests


@contextmanager
def malformed_request() -> Iterator[None]:
    """Wrap a request translation: a body that breaks it (a tool call without id, a part without
    its payload) is the client's error, answered 400, not a crash of the gateway."""
    try:
        yield
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise InvalidRequest(f"malformed chat request: {type(exc).__name__}: {exc}", param="messages") from exc


def require_one_choice(body: dict[str, Any]) -> None:
    """Refuse `n` > 1 for a provider that returns one answer: silently sending one would be wrong."""
    if int(body.get("n") or 1) != 1:
        raise InvalidRequest("n > 1 is not supported by this provider", param="n")


def max_tokens(body: dict[str, Any]) -> int | None:
    """The output limit, from `max_completion_tokens` (current) or `max_tokens` (deprecated)."""
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(value) if value else None


def stop_sequences(body: dict[str, Any]) -> list[str]:
    """`stop` is a string or a list in OpenAI's schema; providers want a list (empty: none)."""
    stop = body.get("stop")
    if not stop:
        return []
    return [stop] if isinstance(stop, str) else list(stop)


def split_messages(
    messages: list[dict[str, Any]],
    *,
    system: Callable[[dict[str, Any]], list[Block]],
    user: Callable[[dict[str, Any]], list[Block]],
    assistant: Callable[[dict[str, Any]], list[Block]],
    tool: Callable[[dict[str, Any]], list[Block]],
    assistant_role: str = "assistant",
) -> tuple[list[Block], list[dict[str, Any]]]:
    """OpenAI's message list -> (system blocks, turns), each message translated by its role.

    OpenAI allows system (or developer) messages anywhere and sends one message per tool result;
    the protocols the adapters translate to take one system prompt and alternating user/assistant
    turns, with tool results in a user turn. So system messages join one system prompt, and
    neighbouring messages of one turn role (parallel tool results, a tool result and the user's
    next words) merge into one turn `{"role", "content": [blocks]}`. Unknown roles are refused."""
    system_blocks: list[Block] = []
    turns: list[dict[str, Any]] = []
    for msg in messages:
        role = msg.get("role")
        if role in ("system", "developer"):
            system_blocks.extend(system(msg))
        elif role == "user":
            _merge_turn(turns, "user", user(msg))
        elif role == "assistant":
            _merge_turn(turns, assistant_role, assistant(msg))
        elif role == "tool":
            _merge_turn(turns, "user", tool(msg))
        else:
            raise InvalidRequest(f"unsupported message role '{role}'", param="messages")
    return system_blocks, turns


def _merge_turn(turns: list[dict[str, Any]], role: str, blocks: list[Any]) -> None:
    if not blocks:
        return  # a message that translates to nothing (blank text) must not open an empty turn
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": blocks})


def content_parts(content: Any, *, text_only: bool = False) -> list[dict[str, Any]]:
    """A message's `content` (a string, a list of parts or None) as a list of parts.

    `text_only` keeps only text parts, for assistant history: its "refusal" parts have no
    equivalent elsewhere and are dropped rather than refused."""
    parts: list[dict[str, Any]] = (
        [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
    )
    return [p for p in parts if p.get("type") == "text"] if text_only else parts


def image_url(value: dict[str, Any] | str) -> str:
    """The URL of an `image_url` part, which clients send as an object or a bare string."""
    if isinstance(value, str):
        return value
    url: str = value["url"]
    return url


def inline_file_data(file: dict[str, Any]) -> str:
    """The data URL of a `file` part. Uploaded-file ids cannot be resolved by a gateway."""
    data_url: str = file.get("file_data") or ""
    if not data_url.startswith("data:"):
        raise InvalidRequest("file parts need inline file_data (a base64 data URL)", param="messages")
    return data_url


@dataclass(frozen=True, slots=True)
class DataURL:
    """A checked base64 data URL: the media type as written (may be empty), the decoded bytes,
    and the base64 text as received, for protocols that take it encoded."""

    mime: str
    data: bytes
    encoded: str


def parse_data_url(url: str) -> DataURL:
    """Split and validate a `data:<mime>;base64,<data>` URL; anything else is the client's error."""
    header, _, encoded = url.partition(",")
    if ";base64" not in header:
        raise InvalidRequest("only base64 data URLs are supported", param="messages")
    try:
        data = base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise InvalidRequest(f"invalid base64 in data URL: {exc}", param="messages") from exc
    return DataURL(mime=header[5:].split(";")[0], data=data, encoded=encoded)


def tool_arguments(raw: Any) -> dict[str, Any]:
    """A tool call's `arguments` (a JSON string in OpenAI's format) as the object providers want.

    Some clients send an object already, and an empty string means no arguments."""
    if isinstance(raw, dict):
        return raw
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(f"tool call arguments are not valid JSON: {exc}", param="messages") from exc
    if not isinstance(value, dict):
        raise InvalidRequest("tool call arguments must be a JSON object", param="messages")
    return value


def tool_function(tool: dict[str, Any]) -> dict[str, Any]:
    """The `function` of a tool declaration; other tool types (custom, hosted) are refused."""
    if tool.get("type", "function") != "function":
        raise InvalidRequest(f"tool type '{tool.get('type')}' is not supported", param="tools")
    function: dict[str, Any] = tool["function"]
    return function


# --------------------------------------------------------------------------- building replies


def completion_id(upstream: str | None = None) -> str:
    """A chat.completion id: the provider's own id under OpenAI's prefix, or a fresh one."""
    return f"chatcmpl-{upstream or uuid.uuid4().hex}"


def tool_call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    """A complete OpenAI tool call. Arguments go out as JSON text, non-ASCII kept readable."""
    text = json.dumps(arguments or {}, ensure_ascii=False)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": text}}


def assistant_message(texts: list[str], calls: list[dict[str, Any]]) -> dict[str, Any]:
    """An assistant message from its text pieces and tool calls. `content` is null only for a
    reply that is nothing but tool calls, as OpenAI sends it."""
    message: dict[str, Any] = {"role": "assistant", "content": "".join(texts) if texts or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def choice(message: dict[str, Any], finish: FinishReason, index: int = 0) -> dict[str, Any]:
    """One entry of a chat.completion's `choices` (providers give no logprobs here)."""
    return {"index": index, "message": message, "finish_reason": finish, "logprobs": None}


def chat_result(id: str, model: str, choices: list[dict[str, Any]], usage: Usage) -> ChatResult:
    """A whole chat.completion and the usage gureum accounts with; the body's `usage` is the same
    numbers in OpenAI's shape (with the cache-write count, which OpenAI lacks, for pricing)."""
    body = {
        "id": id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
        "usage": usage.to_openai(),
    }
    return ChatResult(body=body, usage=usage)


def usage_with_cache(input_tokens: Any, output_tokens: Any, cache_read: Any, cache_write: Any) -> Usage:
    """Usage from a protocol whose input count excludes cache reads and writes (Messages-style).
    OpenAI's prompt_tokens includes them, so they are added back. Missing counts are zero."""
    read = int(cache_read or 0)
    write = int(cache_write or 0)
    return Usage(
        prompt_tokens=int(input_tokens or 0) + read + write,
        completion_tokens=int(output_tokens or 0),
        cached_tokens=read,
        cache_write_tokens=write,
    )


def estimated_usage(body: dict[str, Any], completion: str) -> Usage:
    """gureum's estimate for a stream that ended without the provider's counts: a stream's last
    chunk always carries usage, so budgets and the ledger never see a reply as free."""
    return Usage(
        prompt_tokens=estimate_messages(body.get("messages") or [], body.get("tools")),
        completion_tokens=estimate_tokens(completion),
    )


# --------------------------------------------------------------------------- building streams


def usage_chunk(id: str, created: int, model: str, usage: Usage) -> dict[str, Any]:
    """The last chunk of a stream: no choices, only the usage. gureum always sends it (as a client
    asking `stream_options.include_usage` expects), with the provider's counts or an estimate."""
    return {
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage.to_openai(),
    }


class ChunkBuilder:
    """chat.completion.chunk objects of one stream: every chunk repeats the same id, created and
    model, so a stream translator holds them here (and may correct id and model once the
    provider names them)."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.id = completion_id()
        self.created = int(time.time())

    def chunk(self, delta: dict[str, Any], finish: FinishReason | None = None, *, index: int = 0) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "finish_reason": finish, "logprobs": None}],
        }

    def opening(self, index: int = 0) -> dict[str, Any]:
        """The first chunk of a choice: OpenAI announces the role with empty content."""
        return self.chunk({"role": "assistant", "content": ""}, index=index)

    def closing(self, usage: Usage) -> dict[str, Any]:
        """This stream's `usage_chunk`."""
        return usage_chunk(self.id, self.created, self.model, usage)


class StreamedToolCalls:
    """Tool-call deltas for a provider that streams each call as a start (id, name), pieces of
    argument JSON and a stop, keyed by its own content-block index.

    OpenAI numbers tool calls 0, 1, … within the message, so block indexes are translated. A call
    without arguments streams no pieces; its stop sends "{}" so clients still get parseable JSON.
    Each method returns the `delta` of a chunk."""

    def __init__(self) -> None:
        self._index: dict[int, int] = {}  # provider block index -> OpenAI tool call index
        self._with_arguments: set[int] = set()

    def start(self, block: int, call_id: str, name: str) -> dict[str, Any]:
        index = self._index[block] = len(self._index)
        call = {"index": index, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        return {"tool_calls": [call]}

    def arguments(self, block: int, piece: str) -> dict[str, Any]:
        """A piece of argument JSON; a block that never started is a protocol error (KeyError)."""
        index = self._index[block]
        self._with_arguments.add(index)
        return {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}

    def stop(self, block: int) -> dict[str, Any] | None:
        """The closing delta of a tool call that had no arguments; None for anything else."""
        index = self._index.get(block)
        if index is None or index in self._with_arguments:
            return None
        return {"tool_calls": [{"index": index, "function": {"arguments": "{}"}}]}
