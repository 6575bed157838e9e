"""The FastAPI base every MyRetail service builds on.

``create_service_app`` returns an app with: request ids (``X-Request-ID`` in and out,
in every log line), HTTP metrics on a registry of the app's own (so several apps can
live in one test process), the JSON error model, and ``/healthz``, ``/readyz`` and
``/metrics``. Services add their routes and readiness checks to it.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as render_metrics

from myretail_common.errors import ErrorResponse, error_response, install_error_handlers
from myretail_common.health import Readiness
from myretail_common.logs import request_id_var
from myretail_common.settings import ServiceSettings

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

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
) -> FastAPI:
    """A FastAPI app with request ids, metrics, JSON errors and the health routes."""
    registry = registry or CollectorRegistry()
    readiness = readiness or Readiness()
    app = FastAPI(
        title=title,
        version=version,
        description=description,
        lifespan=lifespan,
        responses={
            400: {"model": ErrorResponse, "description": "Bad request"},
            422: {"model": ErrorResponse, "description": "Invalid request"},
            503: {"model": ErrorResponse, "description": "A dependency is unavailable"},
        },
    )
    app.state.metrics_registry = registry
    app.state.readiness = readiness
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware, registry=registry)

    @app.get("/healthz", tags=["health"], summary="Liveness: the process serves HTTP")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

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

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(render_metrics(registry), media_type=CONTENT_TYPE_LATEST)

    return app


def run_server(app: FastAPI, settings: ServiceSettings) -> None:
    """Serve ``app`` with uvicorn; logging stays ours (JSON)."""
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
    )
