"""A vLLM-like OpenAI server for the gateway's tests, made of our own native servers.

vLLM cannot run on a CPU test machine, so :class:`OpenAIUpstream` plays it: a small
router on a loopback port that serves ``GET /health``, ``GET /v1/models`` and ``POST
/v1/completions`` the way ``vllm serve --enable-lora --lora-modules NAME=DIR ...`` does,
dispatching each request by its ``model`` field to the real ``myretail-inference`` server
serving that adapter (one per tag, the tiny model), and relaying its answer (streams
line by line). A ``model`` it does not serve is a 404 in vLLM's words.

For the tests it also

* records every request (:attr:`requests`: the body the gateway sent, and whether the
  answer was streamed to its end or the gateway hung up first);
* answers the next requests with an error of choice (:meth:`fail_next`: a 400, 429, 503);
* slows streams down (:attr:`chunk_delay` seconds before each event), to keep a
  request in flight;
* stops and starts again on the same port (:meth:`stop`, :meth:`start`): an upstream
  that goes away and comes back::

    with OpenAIUpstream({"loyalty-assistant-v1": native.url}) as upstream:
        gateway = make_settings(..., engine="remote", upstream_base_url=upstream.base_url)

Only test code imports this module.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Self

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from myretail_common.ports import free_port
from myretail_testkit.lifecycle import StartStop
from myretail_testkit.servers import LiveServer


@dataclass
class UpstreamRequest:
    """One request the router received."""

    path: str
    body: dict[str, Any]
    completed: bool = False  # the answer went out to its end
    disconnected: bool = False  # the caller hung up before the end


@dataclass
class _Failure:
    status: int
    message: str
    count: int


@dataclass
class OpenAIUpstream(StartStop):
    """The router (see the module docstring); ``backends`` maps a served model name
    (``<MODEL_NAME>-<tag>``) to the base URL of the native server that serves it."""

    backends: Mapping[str, str]
    max_model_len: int | None = None
    port: int = field(default_factory=free_port)
    chunk_delay: float = 0.0
    requests: list[UpstreamRequest] = field(default_factory=list)
    _failures: list[_Failure] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: LiveServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What ``UPSTREAM_BASE_URL`` takes."""
        return f"{self.url}/v1"

    def start(self) -> Self:
        app = Starlette(
            routes=[
                Route("/health", self._health),
                Route("/healthz", self._health),  # what LiveServer checks at start
                Route("/v1/models", self._models),
                Route("/v1/completions", self._completions, methods=["POST"]),
            ]
        )
        self._server = LiveServer(app, port=self.port).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def fail_next(self, status: int, message: str, count: int = 1) -> None:
        """Answer the next ``count`` completions with ``status`` (vLLM's error body)."""
        with self._lock:
            self._failures.append(_Failure(status, message, count))

    def completions(self) -> list[UpstreamRequest]:
        with self._lock:
            return [one for one in self.requests if one.path == "/v1/completions"]

    # -- routes --------------------------------------------------------------------------

    async def _health(self, _: Request) -> Response:
        return Response(status_code=200)

    async def _models(self, _: Request) -> JSONResponse:
        cards = [
            {"id": name, "object": "model", "owned_by": "vllm", "max_model_len": self.max_model_len}
            for name in self.backends
        ]
        return JSONResponse({"object": "list", "data": cards})

    async def _completions(self, request: Request) -> Response:
        body: dict[str, Any] = await request.json()
        record = UpstreamRequest(request.url.path, body)
        with self._lock:
            self.requests.append(record)
            failure = self._take_failure()
        if failure is not None:
            return _error(failure.status, failure.message)
        backend = self.backends.get(str(body.get("model")))
        if backend is None:
            return _error(404, f"The model `{body.get('model')}` does not exist.")
        forwarded = {key: value for key, value in body.items() if key != "model"}
        client = httpx.AsyncClient(base_url=backend, timeout=120)
        upstream = await client.send(
            client.build_request("POST", "/v1/completions", json=forwarded), stream=True
        )
        if not body.get("stream"):
            content = await upstream.aread()
            await client.aclose()
            record.completed = True
            return Response(content, upstream.status_code, media_type="application/json")
        return StreamingResponse(
            self._relay(upstream, client, record),
            status_code=upstream.status_code,
            media_type=upstream.headers.get("content-type", "text/event-stream"),
        )

    def _take_failure(self) -> _Failure | None:
        if not self._failures:
            return None
        failure = self._failures[0]
        failure.count -= 1
        if failure.count <= 0:
            self._failures.pop(0)
        return failure

    async def _relay(
        self, upstream: httpx.Response, client: httpx.AsyncClient, record: UpstreamRequest
    ) -> AsyncIterator[bytes]:
        try:
            async for line in upstream.aiter_lines():
                if self.chunk_delay and line.startswith("data:"):
                    await asyncio.sleep(self.chunk_delay)  # per event: a slow model
                yield f"{line}\n".encode()
            record.completed = True
        except (asyncio.CancelledError, GeneratorExit):
            record.disconnected = True
            raise
        finally:
            if not record.completed:
                record.disconnected = True
            await upstream.aclose()
            await client.aclose()


def _error(status: int, message: str) -> JSONResponse:
    """An error in vLLM's shape (``ErrorResponse``)."""
    body = {"object": "error", "message": message, "type": "BadRequestError", "code": status}
    return JSONResponse(body, status_code=status)
