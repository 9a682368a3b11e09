"""The ASGI application: routes, the error handlers that give every failure OpenAI's error
shape, and the lifespan that starts and drains the platform."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from gureum.agents import api as agents_api
from gureum.api import admin, audit, knowledge, openai, usage
from gureum.api import cache as cache_api
from gureum.api import config as config_api
from gureum.api.schemas import components as schema_components
from gureum.console import install_handlers as install_console_handlers
from gureum.console import mount as mount_console
from gureum.config import Settings
from gureum.errors import GureumError, StoreUnavailable, Unprocessable
from gureum.governance.pii.leaks import scrub
from gureum.jobs import api as jobs_api
from gureum.jobs import batch_api
from gureum.jobs.embedded import serve_jobs
from gureum.jobs.repository import JobRepository
from gureum.metrics import IN_FLIGHT, observe_deployments, observe_jobs
from gureum.metrics import render as render_metrics
from gureum.platform import Platform
from gureum.store.engine import UNREACHABLE

log = logging.getLogger("gureum")

_HTTP_TYPES = {404: ("invalid_request_error", "not_found"), 405: ("invalid_request_error", "method_not_allowed")}


def _error(status: int, message: str, type_: str, code: str | None, param: str | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": type_, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


class InFlight:
    """Counts requests in progress (streams until their last byte): the autoscaling signal.
    A plain ASGI middleware, because Starlette's BaseHTTPMiddleware buffers and slows streams."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        IN_FLIGHT.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            IN_FLIGHT.dec()


class RejectNul:
    """Refuses a NUL character in the path or query with a 400 before any route sees it:
    PostgreSQL text cannot hold one, so it would otherwise surface as a store error."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"] or b"%00" in scope["query_string"]
                                        or b"\x00" in scope["query_string"]):
            response = _error(400, "The URL contains a NUL (0x00) character; remove it and retry.",
                              "invalid_request_error", "invalid_value")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(settings: Settings, platform: Platform | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = platform is None
        app.state.platform = platform or await Platform.start(settings)
        if app.state.platform.generated_admin_key:
            # Shown once: the store keeps only its hash.
            print(f"gureum: created admin API key (store it now, it is not shown again): "
                  f"{app.state.platform.generated_admin_key}", flush=True)
        jobs = serve_jobs(app.state.platform)
        try:
            yield
        finally:
            await jobs.stop()
            if owned:
                await app.state.platform.stop()

    app = FastAPI(
        title="gureum",
        version="0.1.0",
        description="Self-hosted AI-native platform: one governed OpenAI-compatible API over every model.",
        lifespan=lifespan,
    )
    app.add_middleware(RejectNul)
    app.add_middleware(InFlight)
    app.include_router(openai.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    app.include_router(knowledge.router)
    app.include_router(usage.router)
    app.include_router(config_api.router)
    app.include_router(cache_api.router)
    app.include_router(jobs_api.router)
    app.include_router(batch_api.router)
    app.include_router(agents_api.router)
    app.include_router(agents_api.memories_router)
    mount_console(app)
    install_console_handlers(app)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            from fastapi.openapi.utils import get_openapi

            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {}).setdefault("schemas", {}).update(schema_components())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    @app.exception_handler(GureumError)
    async def gureum_error(request: Request, exc: GureumError) -> Response:
        exc.message = scrub(exc.message)  # an error may echo what the client sent
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = ".".join(str(p) for p in first["loc"])
        err = Unprocessable(f"Invalid value for '{loc}': {first['msg']}", param=loc)
        return JSONResponse(err.body(), status_code=err.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        type_, code = _HTTP_TYPES.get(exc.status_code, ("invalid_request_error", None))
        return _error(exc.status_code, str(exc.detail), type_, code)

    async def store_unreachable(request: Request, exc: Exception) -> Response:
        log.warning("store unreachable on %s: %s", request.url.path, type(exc).__name__)
        err = StoreUnavailable()
        return JSONResponse(err.body(), status_code=err.status, headers=err.headers)

    for kind in UNREACHABLE:
        app.add_exception_handler(kind, store_unreachable)

    @app.exception_handler(DataError)
    async def unstorable(request: Request, exc: DataError) -> Response:
        # The store refused a value the caller sent (a NUL in JSON text, a number out of range):
        # the request is at fault, and the driver's message names no stored data.
        reason = str(exc.orig).splitlines()[0] if exc.orig is not None else "invalid value"
        return _error(400, f"A value in the request cannot be stored: {scrub(reason)}",
                      "invalid_request_error", "invalid_value")

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return _error(500, "The server had an error while processing your request.", "server_error", "internal_error")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> Response:
        """Ready to take traffic: the store and (when configured) Redis answer within 2 s each.
        A load balancer or Kubernetes stops routing to a replica that fails this."""
        import asyncio

        from sqlalchemy import text

        p: Platform = request.app.state.platform
        checks: dict[str, str] = {}
        try:
            async with asyncio.timeout(2.0), p.store.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["store"] = "ok"
        except Exception as exc:  # any failure means not ready; the reason is reported, not raised
            checks["store"] = f"unreachable: {type(exc).__name__}"
        if p.redis is not None:
            try:
                async with asyncio.timeout(2.0):
                    await p.redis.ping()
                checks["redis"] = "ok"
            except Exception as exc:  # as above
                checks["redis"] = f"unreachable: {type(exc).__name__}"
        failed = {k: v for k, v in checks.items() if v != "ok"}
        if failed:
            message = "Not ready: " + "; ".join(f"{k} {v}" for k, v in failed.items())
            return _error(503, message, "server_error", "not_ready")
        return JSONResponse({"status": "ready", "checks": checks})

    @app.get("/metrics", include_in_schema=False)
    async def metrics(request: Request) -> Response:
        platform = request.app.state.platform
        token = platform.settings.metrics.token
        if token and not hmac.compare_digest(request.headers.get("authorization", "").encode(),
                                             f"Bearer {token}".encode()):
            return _error(401, "/metrics needs `Authorization: Bearer <metrics.token>`.", "invalid_request_error",
                          "invalid_api_key")
        observe_deployments(platform.catalog.deployments.values())
        try:
            observe_jobs(await JobRepository(platform.store.engine).depth())
        except Exception:  # noqa: BLE001 — a store outage must not take the other metrics with it
            log.warning("job queue depth unavailable for /metrics", exc_info=True)
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    return app
