"""The ASGI application: routes, the error handlers that give every failure OpenAI's error
shape, and the lifespan that starts and drains the platform."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gureum.api import admin, audit, knowledge, openai, usage
from gureum.api.schemas import components as schema_components
from gureum.config import Settings
from gureum.errors import GureumError, Unprocessable
from gureum.metrics import IN_FLIGHT
from gureum.metrics import render as render_metrics
from gureum.platform import Platform

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


def create_app(settings: Settings, platform: Platform | None = None) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = platform is None
        app.state.platform = platform or await Platform.start(settings)
        if app.state.platform.generated_admin_key:
            # Shown once: the store keeps only its hash.
            print(f"gureum: created admin API key (store it now, it is not shown again): "
                  f"{app.state.platform.generated_admin_key}", flush=True)
        try:
            yield
        finally:
            if owned:
                await app.state.platform.stop()

    app = FastAPI(
        title="gureum",
        version="0.1.0",
        description="Self-hosted AI-native platform: one governed OpenAI-compatible API over every model.",
        lifespan=lifespan,
    )
    app.add_middleware(InFlight)
    app.include_router(openai.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    app.include_router(knowledge.router)
    app.include_router(usage.router)

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

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return _error(500, "The server had an error while processing your request.", "server_error", "internal_error")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = render_metrics()
        return Response(body, media_type=content_type)

    return app
