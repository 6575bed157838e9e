"""A ``/generate`` answer as server-sent events (the events: :mod:`myretail_rag.api.schemas`).

:class:`AnswerStream` runs the assistant's turn as a task that drops each new piece of the
answer into a queue, under the request's one deadline. The route waits for the first piece
before it answers, so everything that fails before it (an empty catalog, Qdrant down, the
deadline) is a plain HTTP error; from the first piece on, the response is a stream of
``delta`` events ending in ``done`` or, when the turn fails, ``error``.

Work for a client that has gone is stopped: a client that disconnects mid-stream makes
Starlette cancel the response, and :meth:`AnswerStream.events` cancels the turn with it
(the chat-model call included); the turn is saved to the history only once it is whole.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from pydantic import BaseModel

from myretail_common.errors import (
    MAX_MESSAGE_CHARS,
    ApiError,
    ErrorBody,
    ErrorResponse,
    GatewayTimeoutError,
)
from myretail_common.logs import request_id_var
from myretail_common.quoting import bounded
from myretail_rag.api.errors import domain_errors_as_http
from myretail_rag.api.metrics import Metrics
from myretail_rag.api.schemas import DELTA_EVENT, DONE_EVENT, ERROR_EVENT, StreamDelta
from myretail_rag.conversation.assistant import Answer, TextSink

logger = logging.getLogger(__name__)

#: Headers of every stream: no caching, and no buffering by nginx-style proxies.
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
_END = object()


def server_sent_event(event: str, body: BaseModel) -> str:
    return f"event: {event}\ndata: {json.dumps(body.model_dump(exclude_none=True))}\n\n"


def timeout_error(deadline: float) -> GatewayTimeoutError:
    return GatewayTimeoutError(f"no answer within {deadline:g}s (REQUEST_TIMEOUT_SECONDS)")


class AnswerStream:
    """One turn running as a task, its answer's pieces queued as they come."""

    def __init__(
        self,
        turn: Callable[[TextSink], Coroutine[Any, Any, Answer]],
        deadline_seconds: float,
        metrics: Metrics,
    ) -> None:
        self.deadline_seconds = deadline_seconds
        self.metrics = metrics
        self._deadline = asyncio.get_running_loop().time() + deadline_seconds
        self._pieces: asyncio.Queue[object] = asyncio.Queue()
        self._task = asyncio.ensure_future(self._run(turn))

    async def _run(self, turn: Callable[[TextSink], Coroutine[Any, Any, Answer]]) -> Answer:
        async def sink(text: str) -> None:
            self._pieces.put_nowait(text)

        try:
            return await turn(sink)
        finally:
            self._pieces.put_nowait(_END)

    async def next_piece(self) -> str | None:
        """The answer's next piece; None once it is complete. Raises the turn's own error,
        or :class:`GatewayTimeoutError` once the deadline has passed (the turn cancelled)."""
        try:
            async with asyncio.timeout_at(self._deadline):
                piece = await self._pieces.get()
                if piece is _END:
                    await self._task  # raises the turn's error, if any
                    return None
        except TimeoutError as exc:
            self.cancel()
            raise timeout_error(self.deadline_seconds) from exc
        assert isinstance(piece, str)
        return piece

    def answer(self) -> Answer:
        """The complete answer (once :meth:`next_piece` returned None)."""
        return self._task.result()

    def cancel(self) -> None:
        self._task.cancel()

    async def events(
        self, first: str | None, respond: Callable[[Answer], BaseModel]
    ) -> AsyncIterator[str]:
        """The server-sent events from ``first`` (the piece the route waited for) on."""
        try:
            piece = first
            while piece is not None:
                yield server_sent_event(DELTA_EVENT, StreamDelta(text=piece))
                piece = await self._next_as_http()
            yield server_sent_event(DONE_EVENT, respond(self.answer()))
        except ApiError as error:
            yield server_sent_event(ERROR_EVENT, _error_body(error))
        except Exception:  # never a stack trace, and the stream still ends well-formed
            logger.exception("streamed answer failed")
            failure = ApiError("internal server error", error_type="internal_error")
            yield server_sent_event(ERROR_EVENT, _error_body(failure))
        finally:
            self.cancel()  # a client that went away: the turn stops with the stream

    async def _next_as_http(self) -> str | None:
        """:meth:`next_piece`, with domain errors as their HTTP errors (503s counted)."""
        with domain_errors_as_http(self.metrics):
            return await self.next_piece()


def _error_body(error: ApiError) -> ErrorResponse:
    """The JSON error model's body, as a non-streamed request would get it."""
    message = bounded(error.message, MAX_MESSAGE_CHARS)
    return ErrorResponse(
        error=ErrorBody(type=error.error_type, message=message, request_id=request_id_var.get())
    )
