"""Executing a plan with resilience: least-in-flight balancing inside a group, retries with full
jitter on the same deployment, fallback to the next group, circuit breakers, and a hard timeout
so that a provider that hangs can never hang the client."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from gureum.config import RoutingSettings
from gureum.errors import GureumError, ServiceUnavailable, UpstreamError, UpstreamTimeout
from gureum.routing.catalog import Deployment, Plan

T = TypeVar("T")


def _pick(group: list[Deployment], tried: set[str]) -> Deployment | None:
    ready = [d for d in group if d.id not in tried and d.breaker.available()]
    if not ready:
        return None
    low = min(d.inflight for d in ready)
    return random.choice([d for d in ready if d.inflight == low])


class Router:
    def __init__(self, settings: RoutingSettings, default_timeout: float) -> None:
        self.settings = settings
        self.default_timeout = default_timeout

    def _timeout(self, dep: Deployment) -> float:
        return dep.settings.timeout or self.default_timeout

    async def _backoff(self, attempt: int) -> None:
        cap = min(self.settings.backoff_max, self.settings.backoff_base * (2**attempt))
        await asyncio.sleep(random.uniform(0, cap))

    async def _attempts(self, plan: Plan, route: dict[str, Any]) -> AsyncIterator[Deployment]:
        """Yield deployments to try, in order; the caller reports each outcome on the breaker."""
        attempts: list[dict[str, Any]] = route.setdefault("attempts", [])
        skipped_open: list[str] = []
        for group in plan.groups:
            tried: set[str] = set()
            while (dep := _pick(group, tried)) is not None:
                tried.add(dep.id)
                for attempt in range(self.settings.retries + 1):
                    if not dep.breaker.allow():
                        skipped_open.append(dep.id)
                        break
                    if attempt:
                        await self._backoff(attempt - 1)
                    # The caller resumes us only after a retriable failure.
                    yield dep
            skipped_open.extend(d.id for d in group if d.id not in tried)
        if skipped_open and not attempts:
            route["circuit_open"] = sorted(set(skipped_open))

    async def call(self, plan: Plan, route: dict[str, Any], op: Callable[[Deployment], Awaitable[T]]) -> tuple[Deployment, T]:
        last: GureumError | None = None
        async for dep in self._attempts(plan, route):
            dep.inflight += 1
            try:
                async with asyncio.timeout(self._timeout(dep)):
                    result = await op(dep)
            except TimeoutError:
                last = UpstreamTimeout(f"deployment '{dep.id}' did not answer within {self._timeout(dep):.0f}s")
                self._failed(dep, route, last)
                continue
            except UpstreamError as exc:
                last = exc
                self._failed(dep, route, exc)
                if not exc.retriable:
                    raise
                continue
            finally:
                dep.inflight -= 1
            self._succeeded(dep, route)
            return dep, result
        raise self._exhausted(plan, route, last)

    async def stream(
        self, plan: Plan, route: dict[str, Any], op: Callable[[Deployment], AsyncIterator[dict[str, Any]]]
    ) -> tuple[Deployment, AsyncIterator[dict[str, Any]]]:
        """Fall back only until the first chunk arrives; after that the stream is committed."""
        last: GureumError | None = None
        async for dep in self._attempts(plan, route):
            dep.inflight += 1
            it = op(dep)
            timeout = self._timeout(dep)
            try:
                async with asyncio.timeout(timeout):
                    first = await anext(it)
            except (TimeoutError, StopAsyncIteration, UpstreamError) as exc:
                dep.inflight -= 1
                await _aclose(it)
                if isinstance(exc, TimeoutError):
                    last = UpstreamTimeout(f"deployment '{dep.id}' sent nothing within {timeout:.0f}s")
                elif isinstance(exc, StopAsyncIteration):
                    last = UpstreamError(f"deployment '{dep.id}' closed the stream without data")
                else:
                    last = exc
                self._failed(dep, route, last)
                if isinstance(last, UpstreamError) and not last.retriable:
                    raise last from None
                continue
            except BaseException:
                dep.inflight -= 1
                await _aclose(it)
                raise
            self._succeeded(dep, route)
            return dep, self._relay(dep, first, it, timeout)
        raise self._exhausted(plan, route, last)

    async def _relay(
        self, dep: Deployment, first: dict[str, Any], it: AsyncIterator[dict[str, Any]], timeout: float
    ) -> AsyncIterator[dict[str, Any]]:
        try:
            yield first
            while True:
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await anext(it)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    dep.breaker.record_failure()
                    raise UpstreamTimeout(f"deployment '{dep.id}' stalled mid-stream for {timeout:.0f}s") from None
                yield chunk
        finally:
            dep.inflight -= 1
            await _aclose(it)

    def _failed(self, dep: Deployment, route: dict[str, Any], exc: GureumError) -> None:
        dep.breaker.record_failure()
        retriable = getattr(exc, "retriable", True)
        route["attempts"].append({"deployment": dep.id, "error": exc.code, "retriable": retriable})

    def _succeeded(self, dep: Deployment, route: dict[str, Any]) -> None:
        dep.breaker.record_success()
        route["attempts"].append({"deployment": dep.id, "ok": True})
        route["deployment"] = dep.id
        if len(route["attempts"]) == 1:
            route.setdefault("reason", "first candidate")
        else:
            failed = [a["deployment"] for a in route["attempts"] if not a.get("ok")]
            route["reason"] = f"fallback after {', '.join(failed)} failed"

    def _exhausted(self, plan: Plan, route: dict[str, Any], last: GureumError | None) -> GureumError:
        if last is None:
            opened = ", ".join(route.get("circuit_open", [])) or "none"
            return ServiceUnavailable(
                f"No deployment of '{plan.requested}' is available right now (circuit open: {opened}); retry later.",
                headers={"retry-after": "5"},
            )
        if isinstance(last, UpstreamTimeout):
            return last
        tried = ", ".join(a["deployment"] for a in route.get("attempts", []))
        # The last failure's kind, provider status and headers (a 429's retry-after) reach the caller.
        message = f"All deployments for '{plan.requested}' failed ({tried}); last error: {last.message}"
        if isinstance(last, UpstreamError) and last.upstream_status is not None:
            return type(last)(message, upstream_status=last.upstream_status, headers=dict(last.headers))
        return type(last)(message, headers=dict(last.headers))


async def _aclose(it: AsyncIterator[Any]) -> None:
    close = getattr(it, "aclose", None)
    if close is not None:
        # Closing a broken upstream must not mask the error that broke it.
        with contextlib.suppress(Exception):
            await close()
