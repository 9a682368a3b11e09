"""`map_errors`, the mapping point every adapter wraps its calls in: what it maps, what it lets pass."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncGenerator, AsyncIterator

import pytest

from gureum.errors import GureumError, InvalidRequest, UpstreamError
from gureum.providers.base import map_errors, retry_after

seen: list[BaseException] = []


def _map(exc: Exception) -> GureumError:
    seen.append(exc)
    return UpstreamError(f"mapped {type(exc).__name__}")


ERRORS = map_errors(_map)


def test_an_sdk_exception_leaves_mapped_and_chained() -> None:
    with pytest.raises(UpstreamError, match="mapped KeyError") as info:
        with ERRORS:
            raise KeyError("choices")
    assert isinstance(info.value.__cause__, KeyError)


def test_a_gureum_error_passes_unchanged() -> None:
    seen.clear()
    refusal = InvalidRequest("n > 1")
    with pytest.raises(InvalidRequest) as info:
        with ERRORS:
            raise refusal
    assert info.value is refusal and seen == []


async def test_closing_or_cancelling_a_mapped_stream_is_not_an_error() -> None:
    seen.clear()
    closed: list[bool] = []

    async def stream() -> AsyncGenerator[int]:
        with ERRORS:
            try:
                for i in itertools.count():
                    yield i
                    await asyncio.sleep(0)
            finally:
                closed.append(True)

    it = stream()
    assert await anext(it) == 0
    await it.aclose()  # GeneratorExit passes through: the stream closes, nothing is mapped

    async def consume() -> None:
        async for _ in stream():  # the task is only ever suspended inside the stream's own await
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert closed == [True, True] and seen == []


async def test_an_error_raised_mid_stream_is_mapped() -> None:
    async def stream() -> AsyncIterator[int]:
        with ERRORS:
            yield 1
            raise ConnectionResetError("peer reset")

    got: list[int] = []
    with pytest.raises(UpstreamError, match="mapped ConnectionResetError"):
        async for item in stream():
            got.append(item)
    assert got == [1]


def test_retry_after_is_kept_only_when_given() -> None:
    assert retry_after({"retry-after": "7"}) == {"retry-after": "7"}
    assert retry_after({"retry-after": ""}) == {} and retry_after({}) == {} and retry_after(None) == {}
