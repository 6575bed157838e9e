"""A stand-in Qdrant *server* on a loopback port: :class:`~myretail_testkit.qdrant_gateway.
QdrantGateway`'s REST API plus what the real server adds around it.

* ``/readyz`` and ``/livez`` (the chart's probes, its restore Job's wait-for-qdrant init
  container and its ``helm test`` pod call them first);
* the API key (``QDRANT__SERVICE__API_KEY``): with ``api_key`` set, every request but the
  health checks needs it in an ``api-key`` header or as a bearer token, as on the real server,
  so a client that is not handed the key fails here as it would in the cluster.

The engine behind it stays embedded Qdrant (see the gateway's module): several processes share
one catalog through it, as the RAG API and the restore Job share the Qdrant StatefulSet::

    with QdrantServer(QdrantClient(":memory:"), api_key="k") as qdrant:
        ...  # QDRANT_ENDPOINT=qdrant.url, QDRANT_API_KEY=k
"""

from __future__ import annotations

import secrets

from qdrant_client import QdrantClient
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp

from myretail_testkit.qdrant_gateway import QdrantGateway
from myretail_testkit.servers import LiveServer

# What the real server answers without a key (its health endpoints).
OPEN_PATHS = frozenset({"/", "/healthz", "/readyz", "/livez"})


class _ApiKeyRequired(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, api_key: str) -> None:
        super().__init__(app)
        self.api_key = api_key

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.url.path in OPEN_PATHS or self._has_key(request):
            return await call_next(request)
        return JSONResponse({"status": {"error": "Must provide an API key"}}, status_code=401)

    def _has_key(self, request: Request) -> bool:
        given = request.headers.get("api-key") or request.headers.get("authorization", "")
        given = given.removeprefix("Bearer ").strip()
        return secrets.compare_digest(given.encode(), self.api_key.encode())


def qdrant_server_app(gateway: QdrantGateway, api_key: str | None = None) -> Starlette:
    """The gateway's app with the real server's health routes and, if given, its API key."""

    async def ready(_: Request) -> PlainTextResponse:
        return PlainTextResponse("all shards are ready")

    async def alive(_: Request) -> PlainTextResponse:
        return PlainTextResponse("healthz check passed")

    middleware = [Middleware(_ApiKeyRequired, api_key=api_key)] if api_key else []
    return Starlette(
        routes=[Route("/readyz", ready), Route("/livez", alive), Mount("/", app=gateway.app)],
        middleware=middleware,
    )


class QdrantServer(LiveServer):
    """``client`` (embedded Qdrant) served as a Qdrant server at ``url``; ``gateway.requests``
    records what it was asked."""

    def __init__(
        self, client: QdrantClient, *, api_key: str | None = None, port: int | None = None
    ) -> None:
        self.client = client
        self.gateway = QdrantGateway(client)
        super().__init__(qdrant_server_app(self.gateway, api_key), port=port)
