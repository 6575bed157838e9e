"""A stand-in Qdrant *server* for tests: Qdrant's REST API over the embedded Qdrant engine.

No Qdrant server binary can be installed here (it is not on PyPI or Debian), so the
server-mode code paths (``QDRANT_ENDPOINT``: qdrant-client's REST transport, connection
errors, recovery when Qdrant comes back) are exercised against this gateway. It answers
the REST routes the service uses (collections, aliases, indexes, points, query, count,
scroll) by parsing each body into qdrant-client's own REST models and calling an embedded
``QdrantClient`` with them, and it records every request. It is honest about what it is:
the HTTP, the client and its errors are real; the engine behind it is qdrant-client's
local mode, not the Rust server. Snapshot recovery is only recorded (answered ``true``
without creating anything): the native ``.snapshot`` format needs the real server.

``created_collections()`` gives the body of each create-collection request by collection
name (the layout a client asked for: shard_number, replication_factor, ...; the engine
behind has one node and ignores it). ``GET /cluster`` answers as a single Qdrant does
(distributed mode disabled), or as a peer of a cluster of ``cluster_peers`` peers when that
is set above 1.

``answer_delays`` makes a route answer late *after* applying the request (path -> seconds),
as a server whose answer is lost to a client timeout does: the change happened, the client
does not know.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime
from typing import Any

from qdrant_client import QdrantClient, models
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


def _ok(result: Any) -> JSONResponse:
    if hasattr(result, "model_dump"):
        result = result.model_dump(mode="json")
    elif isinstance(result, list):
        result = [r.model_dump(mode="json") if hasattr(r, "model_dump") else r for r in result]
    return JSONResponse({"result": result, "status": "ok", "time": 0.0})


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": {"error": message}, "time": 0.0}, status_code=status)


_DONE = {"operation_id": 0, "status": "completed"}


class QdrantGateway:
    """``app`` serves Qdrant's REST API from ``client`` (an embedded QdrantClient)."""

    def __init__(self, client: QdrantClient) -> None:
        self.client = client
        self.requests: list[tuple[str, str, Any]] = []
        self.answer_delays: dict[str, float] = {}
        self.cluster_peers = 1
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/", self.root),
                Route("/healthz", self.healthz),
                Route("/aliases", self.aliases),
                Route("/collections", self.collections),
                Route("/collections/aliases", self.change_aliases, methods=["POST"]),
                Route("/collections/{name}/exists", self.exists),
                Route(
                    "/collections/{name}",
                    self.collection,
                    methods=["GET", "PUT", "PATCH", "DELETE"],
                ),
                Route("/collections/{name}/index", self.index, methods=["PUT"]),
                Route("/collections/{name}/points", self.points, methods=["PUT", "POST"]),
                Route("/collections/{name}/points/count", self.count, methods=["POST"]),
                Route("/collections/{name}/points/scroll", self.scroll, methods=["POST"]),
                Route("/collections/{name}/points/query", self.query, methods=["POST"]),
                Route("/collections/{name}/snapshots/recover", self.recover, methods=["PUT"]),
                Route("/cluster", self.cluster),
            ]
        )

    def created_collections(self) -> dict[str, Any]:
        """Collection name -> the body of its create-collection request (the latest one)."""
        return {
            path.removeprefix("/collections/"): body
            for method, path, body in self.requests
            if method == "PUT" and path.count("/") == 2 and path.startswith("/collections/")
        }

    async def _body(self, request: Request) -> Any:
        body = await request.body()
        data = await request.json() if body else None
        self.requests.append((request.method, request.url.path, data))
        return data

    def _run(self, function: Any) -> JSONResponse:
        try:
            with self._lock:
                return _ok(function())
        except ValueError as exc:
            if "not found" in str(exc).lower():
                return _error(404, f"Not found: {exc}")
            return _error(400, f"Bad request: {exc}")

    async def root(self, request: Request) -> JSONResponse:
        await self._body(request)
        return JSONResponse({"title": "qdrant gateway (tests)", "version": "1.16.0"})

    async def healthz(self, request: Request) -> PlainTextResponse:
        return PlainTextResponse("healthz check passed")

    async def aliases(self, request: Request) -> JSONResponse:
        await self._body(request)
        return self._run(self.client.get_aliases)

    async def collections(self, request: Request) -> JSONResponse:
        await self._body(request)
        return self._run(self.client.get_collections)

    async def change_aliases(self, request: Request) -> JSONResponse:
        data = await self._body(request)
        operations = models.ChangeAliasesOperation(**data)
        answer = self._run(
            lambda: self.client.update_collection_aliases(
                change_aliases_operations=operations.actions
            )
        )
        await asyncio.sleep(self.answer_delays.get(request.url.path, 0.0))
        return answer

    async def exists(self, request: Request) -> JSONResponse:
        await self._body(request)
        name = request.path_params["name"]
        return self._run(lambda: {"exists": self.client.collection_exists(name)})

    async def collection(self, request: Request) -> JSONResponse:
        data = await self._body(request)
        name = request.path_params["name"]
        if request.method == "GET":
            return self._run(lambda: self.client.get_collection(name))
        if request.method == "DELETE":
            return self._run(lambda: self.client.delete_collection(name))
        if request.method == "PATCH":
            update = models.UpdateCollection(**(data or {}))
            return self._run(lambda: self.client.update_collection(name, metadata=update.metadata))
        create = models.CreateCollection(**(data or {}))
        return self._run(
            lambda: self.client.create_collection(
                name, vectors_config=create.vectors, metadata=create.metadata
            )
        )

    async def index(self, request: Request) -> JSONResponse:
        await self._body(request)  # embedded Qdrant has no payload indexes: recorded only
        return _ok(_DONE)

    async def points(self, request: Request) -> JSONResponse:
        data = await self._body(request)
        name = request.path_params["name"]
        if request.method == "PUT":
            points = models.PointsList(**data)

            def upsert() -> dict[str, Any]:
                self.client.upsert(name, points=points.points)
                return _DONE

            return self._run(upsert)
        ask = models.PointRequest(**data)
        return self._run(
            lambda: self.client.retrieve(
                name,
                ids=ask.ids,
                with_payload=ask.with_payload if ask.with_payload is not None else True,
                with_vectors=ask.with_vector or False,
            )
        )

    async def count(self, request: Request) -> JSONResponse:
        data = await self._body(request)
        ask = models.CountRequest(**(data or {}))
        name = request.path_params["name"]
        return self._run(
            lambda: self.client.count(name, count_filter=ask.filter, exact=bool(ask.exact))
        )

    async def scroll(self, request: Request) -> JSONResponse:
        data = await self._body(request)
        ask = models.ScrollRequest(**(data or {}))
        name = request.path_params["name"]

        def scroll() -> dict[str, Any]:
            points, offset = self.client.scroll(
                name,
                scroll_filter=ask.filter,
                limit=ask.limit or 10,
                offset=ask.offset,
                with_payload=ask.with_payload if ask.with_payload is not None else True,
                with_vectors=ask.with_vector or False,
            )
            return {
                "points": [p.model_dump(mode="json") for p in points],
                "next_page_offset": offset,
            }

        return self._run(scroll)

    async def query(self, request: Request) -> JSONResponse:
        data = await self._body(request)
        ask = models.QueryRequest(**data)
        name = request.path_params["name"]
        query = ask.query
        if isinstance(query, models.NearestQuery):
            query = query.nearest  # type: ignore[assignment]
        return self._run(
            lambda: self.client.query_points(
                name,
                query=query,  # type: ignore[arg-type]
                using=ask.using,
                query_filter=ask.filter,
                limit=ask.limit or 10,
                offset=ask.offset,
                with_payload=ask.with_payload if ask.with_payload is not None else True,
                with_vectors=ask.with_vector or False,
                score_threshold=ask.score_threshold,
            )
        )

    async def recover(self, request: Request) -> JSONResponse:
        await self._body(request)  # recorded; see the module docstring
        return _ok(True)

    async def cluster(self, request: Request) -> JSONResponse:
        await self._body(request)
        if self.cluster_peers <= 1:
            return _ok({"status": "disabled"})
        peers = {
            str(peer): models.PeerInfo(uri=f"http://qdrant-{peer - 1}.qdrant-headless:6335/")
            for peer in range(1, self.cluster_peers + 1)
        }
        return _ok(
            models.ClusterStatusOneOf1(
                status="enabled",
                peer_id=1,
                peers=peers,
                raft_info=models.RaftInfo(
                    term=1, commit=1, pending_operations=0, leader=1, role=None, is_voter=True
                ),
                consensus_thread_status=models.ConsensusThreadStatusOneOf(
                    consensus_thread_status="working", last_update=datetime.now(UTC)
                ),
                message_send_failures={},
            )
        )
