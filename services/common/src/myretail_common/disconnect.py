"""Work for a client that has gone is stopped, not finished.

ASGI servers keep running a route after its client disconnects; :func:`unless_disconnected`
runs the route's work as a task beside a watcher of the connection, and cancels the work
(its awaits on other services close their connections, so they stop too) as soon as the
server reports ``http.disconnect``. Routes take it as a dependency, without touching the
request: ``async def route(..., client: ClientConnectionDep)`` and
``await client.unless_disconnected(work)``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Annotated, Any, TypeVar

from fastapi import Depends
from starlette.requests import Request

from myretail_common.errors import ApiError

logger = logging.getLogger(__name__)

T = TypeVar("T")


class ClientDisconnectedError(ApiError, status_code=499, error_type="client_closed_request"):
    """The client went away before the answer was ready (nobody receives this answer)."""


async def _disconnected(request: Request) -> None:
    """Return once the client has gone (the body was read before the route ran)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Coroutine[Any, Any, T]) -> T:
    """``await work``, cancelled with :class:`ClientDisconnectedError` if the client leaves."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        watcher.cancel()
        raise
    watcher.cancel()
    if task in done:
        return task.result()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    logger.info("client disconnected; its work was cancelled", extra={"path": request.url.path})
    raise ClientDisconnectedError("the client closed the connection")


class ClientConnection:
    """The connection of the request being served (a FastAPI dependency)."""

    def __init__(self, request: Request) -> None:
        self.request = request

    async def unless_disconnected(self, work: Coroutine[Any, Any, T]) -> T:
        return await unless_disconnected(self.request, work)


async def client_connection(request: Request) -> ClientConnection:
    # async: FastAPI runs a plain ``def`` dependency (a class too) in its thread pool, one
    # thread hop per request for nothing.
    return ClientConnection(request)


ClientConnectionDep = Annotated[ClientConnection, Depends(client_connection)]
