"""The FastAPI base every MyRetail service builds on.

``create_service_app`` returns an app with: request ids (``X-Request-ID`` in and out,
in every log line), HTTP metrics on a registry of the app's own (so several apps can
live in one test process), the JSON error model, every request body capped and checked
before any route parses it (:mod:`myretail_common.request_guard`), and ``/healthz``,
``/readyz`` and ``/metrics``. Services add their routes and readiness checks to it.

A service's settings choose what its public port shows: ``METRICS_PORT`` moves
``/metrics`` to a port of its own (``run_server`` serves it there), and
``PUBLIC_API_DOCS=false`` removes ``/docs``, ``/redoc`` and ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as render_metrics
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from myretail_common.errors import ErrorResponse, error_response, install_error_handlers
from myretail_common.health import Readiness
from myretail_common.logs import request_id_var
from myretail_common.request_guard import RequestGuardMiddleware
from myretail_common.settings import ServiceSettings

logger = logging.getLogger(__name__)

_QUIET_PATHS = {"/healthz", "/readyz", "/metrics"}


class RequestContextMiddleware:
    """Request id, metrics and one log line per request (pure ASGI: streaming-safe)."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "http_requests_total", "HTTP requests", ["method", "route", "status"], registry=registry
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency until the response starts",
            ["method", "route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if 0 < len(incoming) <= 128 else uuid.uuid4().hex
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status: dict[str, int] = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = 1
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode("latin-1")),
                ]
                route = scope.get("route")
                path = getattr(route, "path", "unmatched")
                self.latency.labels(scope["method"], path).observe(time.perf_counter() - started)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, inside the request context, so the 500 carries the request id.
            logger.exception("unhandled error", extra={"path": scope["path"]})
            if "started" in status:
                raise
            response = error_response(500, "internal_error", "internal server error")
            await response(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(scope["method"], route, str(status["code"])).inc()
            if scope["path"] not in _QUIET_PATHS:
                logger.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status["code"],
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    },
                )
            request_id_var.reset(token)


def create_service_app(
    title: str,
    version: str,
    readiness: Readiness | None = None,
    description: str = "",
    registry: CollectorRegistry | None = None,
    lifespan: Any = None,
    settings: ServiceSettings | None = None,
    liveness: Readiness | None = None,
) -> FastAPI:
    """A FastAPI app with request ids, metrics, JSON errors, request limits and the health
    routes; ``settings`` (default: :class:`ServiceSettings`' defaults) sets the body cap,
    whether the API docs are public and where ``/metrics`` is served. ``liveness`` holds
    checks that fail only when the process can never serve again (``/healthz`` answers 503,
    so Kubernetes restarts it); readiness checks fail while it cannot serve *yet*."""
    settings = settings or ServiceSettings.model_construct()
    registry = registry or CollectorRegistry()
    readiness = readiness or Readiness()
    docs = settings.public_api_docs
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
        responses={
            400: {"model": ErrorResponse, "description": "Bad request"},
            413: {"model": ErrorResponse, "description": "The request body is too large"},
            422: {"model": ErrorResponse, "description": "Invalid request"},
            503: {"model": ErrorResponse, "description": "A dependency is unavailable"},
        },
    )
    app.state.metrics_registry = registry
    app.state.readiness = readiness
    install_error_handlers(app)
    # Added first, so it runs inside the request context (its 413/400 carry a request id).
    app.add_middleware(RequestGuardMiddleware, max_body_bytes=settings.max_request_bytes)
    app.add_middleware(RequestContextMiddleware, registry=registry)

    @app.get(
        "/healthz",
        tags=["health"],
        summary="Liveness: the process serves HTTP and can serve again",
        responses={503: {"description": "Dead for good; the body names the failing checks"}},
    )
    async def healthz() -> JSONResponse:
        alive, checks = await liveness.evaluate() if liveness else (True, {})
        if alive:
            return JSONResponse({"status": "ok"})
        return JSONResponse(status_code=503, content={"status": "dead", "checks": checks})

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: every dependency is ready",
        responses={503: {"description": "Not ready; the body names the failing checks"}},
    )
    async def readyz() -> JSONResponse:
        ready, checks = await readiness.evaluate()
        body = {"status": "ready" if ready else "not ready", "checks": checks}
        return JSONResponse(status_code=200 if ready else 503, content=body)

    if settings.metrics_port is None:

        @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
        async def metrics() -> Response:
            return Response(render_metrics(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def metrics_app(registry: CollectorRegistry) -> Starlette:
    """``GET /metrics`` alone: what ``run_server`` serves on ``METRICS_PORT``."""

    async def metrics(_: Request) -> Response:
        return Response(render_metrics(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics)])


#: Makes the uvicorn server of the app's port from its config (a subclass may handle signals).
ServerFactory = Callable[[uvicorn.Config], uvicorn.Server]


def _config(app: ASGIApp, host: str, port: int, graceful_seconds: int) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=graceful_seconds,
    )


def run_server(
    app: FastAPI,
    settings: ServiceSettings,
    *,
    make_server: ServerFactory = uvicorn.Server,
    graceful_seconds: int = 10,
) -> None:
    """Serve ``app`` with uvicorn (logging stays ours: JSON), and its metrics on
    ``METRICS_PORT`` when the settings give one; when either server stops, so does the
    other. ``graceful_seconds``: how long open connections get at shutdown."""
    servers = [make_server(_config(app, settings.host, settings.port, graceful_seconds))]
    if settings.metrics_port is not None:
        metrics = metrics_app(app.state.metrics_registry)
        config = _config(metrics, settings.host, settings.metrics_port, graceful_seconds)
        servers.append(uvicorn.Server(config))
    with asyncio.Runner(loop_factory=servers[0].config.get_loop_factory()) as runner:
        runner.run(_serve_together(servers))


async def _serve_together(servers: list[uvicorn.Server]) -> None:
    """Run the servers until one stops (a signal, a port in use), then stop the others."""
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks)
