"""Each provider's real wire format, for scripting an upstream where gureum meets it.

A `Reply` is one HTTP answer exactly as the provider sends it (status, headers, body in the pieces
a stream arrives in). Each provider's `Wire` builds its replies from neutral inputs (text, tool
calls, token counts) — an answer, tool calls, a stream of either, an error, an error event inside
a stream — and reads back what gureum sent it (declared tools, replayed tool calls, tool results).
A `Script` serves queued replies at the client's HTTP layer: `httpx.MockTransport` for the httpx
adapters (Anthropic, Gemini's SDK, OpenAI-compatible), botocore's `before-send` hook for Bedrock,
so the SDKs parse them as they parse the provider. `Reply.http11` gives the raw bytes for a socket
server (`tests.support.raw`).

The provider contract (`tests/providers/contract.py`) runs on these; one module per provider; tests of agents and tool
loops can queue the same tool-call replies to see each provider's own tool-call messages.
"""

from __future__ import annotations

from tests.support.wire.anthropic import AnthropicWire
from tests.support.wire.base import (
    Call,
    EmbedWire,
    Reply,
    RerankWire,
    Script,
    Sent,
    Tokens,
    Wire,
    html,
)
from tests.support.wire.bedrock import BedrockWire, event, exception, frame
from tests.support.wire.gemini import GeminiWire
from tests.support.wire.openai import OpenAIWire, openai_tool_calls

__all__ = [
    "AnthropicWire",
    "BedrockWire",
    "Call",
    "EmbedWire",
    "GeminiWire",
    "OpenAIWire",
    "RerankWire",
    "Reply",
    "Script",
    "Sent",
    "Tokens",
    "Wire",
    "event",
    "exception",
    "frame",
    "html",
    "openai_tool_calls",
]
