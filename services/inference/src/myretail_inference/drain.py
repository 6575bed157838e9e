"""Graceful drain on SIGTERM (both engines): finish what is in flight, take nothing new.

On the first SIGTERM the server keeps listening but :class:`Drain` turns on: ``/readyz``
fails at once (the pod leaves the Service's endpoints), every new generation request
(``/generate``, ``/v1/*``) gets a 503 with ``Retry-After`` (another replica answers the
retry), and the requests in flight, streams included, go on for up to ``DRAIN_SECONDS``.
When the last one ends, or at that bound, the server shuts down as uvicorn does (a
second SIGTERM, or SIGINT, stops at once). Kubernetes' ``terminationGracePeriodSeconds``
must exceed ``DRAIN_SECONDS`` plus the ``preStop`` pause.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from types import FrameType

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from myretail_common.errors import error_response
from myretail_common.http import run_server
from myretail_common.settings import ServiceSettings

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.05
# After the drain, what is still open (idle keep-alive connections) gets this long.
_SHUTDOWN_SECONDS = 2


class Drain:
    """Whether the service is draining, and how many generation requests are in flight."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False
        self.in_flight = 0
        self.started_at: float | None = None

    def begin(self) -> None:
        if not self.draining:
            self.draining, self.started_at = True, time.monotonic()
            logger.info(
                "draining: no new requests",
                extra={"in_flight": self.in_flight, "up_to": self.seconds},
            )

    async def wait(self) -> None:
        """Until nothing is in flight, or ``seconds`` after the drain began."""
        deadline = (self.started_at or time.monotonic()) + self.seconds
        while self.in_flight and time.monotonic() < deadline:
            await asyncio.sleep(_POLL_SECONDS)
        logger.info("drained", extra={"left_in_flight": self.in_flight})


def _is_generation(path: str) -> bool:
    return path == "/generate" or path.startswith("/v1/")


class DrainMiddleware:
    """Counts generation requests in flight; while draining, answers new ones 503."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_generation(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.drain.draining:
            response = error_response(
                503,
                "service_unavailable",
                "the server is shutting down (draining); retry: another replica answers",
                headers={"Retry-After": "1", "Connection": "close"},
            )
            await response(scope, receive, send)
            return
        self.drain.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.drain.in_flight -= 1


class DrainingServer(uvicorn.Server):
    """uvicorn, with the first SIGTERM starting a drain instead of the shutdown."""

    def __init__(self, config: uvicorn.Config, drain: Drain) -> None:
        super().__init__(config)
        self.drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[object] | None = None) -> None:  # type: ignore[override]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)  # type: ignore[arg-type]

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain.draining or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self._captured_signals.append(sig)  # re-raised after shutdown, as uvicorn does
        self.drain.begin()
        self._loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._drain_then_exit()))

    async def _drain_then_exit(self) -> None:
        await self.drain.wait()
        self.should_exit = True  # run_server stops the metrics port's server with this one


def run_draining_server(app: FastAPI, settings: ServiceSettings, drain: Drain) -> None:
    """Serve ``app`` (and its metrics on ``METRICS_PORT``) until a drain or a signal ends it."""
    run_server(
        app,
        settings,
        make_server=lambda config: DrainingServer(config, drain),
        graceful_seconds=_SHUTDOWN_SECONDS,
    )
