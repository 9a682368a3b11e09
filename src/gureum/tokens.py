"""Token counting without a network.

Hosted providers' tokenizers cannot be fetched here (tiktoken downloads its tables), so budgets,
context limits and streams without `usage` use this documented estimate: one token per four
ASCII characters and one per non-ASCII character (Hangul syllables tokenize at roughly 0.6–1.2
tokens each in current BPE vocabularies, so this errs high, which is the safe side for budget
reservations). Providers that report usage always override it in the ledger.
"""

from __future__ import annotations

from typing import Any

from gureum.messages import content_text

# OpenAI's documented per-message framing overhead.
MESSAGE_OVERHEAD = 4


def estimate_tokens(text: str) -> int:
    if not text:
        return 0
    n = len(text)
    # UTF-8 length minus code points counts the extra bytes; most non-ASCII text here is
    # 3-byte (Hangul, CJK), so this is a C-speed way to count non-ASCII characters.
    extra = len(text.encode("utf-8")) - n
    non_ascii = min(n, (extra + 1) // 2)
    return (n - non_ascii + 3) // 4 + non_ascii


def estimate_messages(messages: list[dict[str, Any]], tools: list[Any] | None = None) -> int:
    total = 3
    for m in messages:
        total += MESSAGE_OVERHEAD + estimate_tokens(content_text(m.get("content")))
        for call in m.get("tool_calls") or ():
            fn = call.get("function") or {}
            total += estimate_tokens(fn.get("name", "")) + estimate_tokens(fn.get("arguments", ""))
    if tools:
        import orjson

        total += estimate_tokens(orjson.dumps(tools).decode())
    return total
