"""Job types: one table, filled by `register`; built-ins and extensions register the same way."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gureum.jobs.context import JobContext

Handler = Callable[["JobContext"], Coroutine[Any, Any, dict[str, Any]]]
_HANDLERS: dict[str, Handler] = {}


def register(name: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        _HANDLERS[name] = fn
        return fn

    return deco


def handler(name: str) -> Handler | None:
    return _HANDLERS.get(name)


def types() -> list[str]:
    return sorted(_HANDLERS)
