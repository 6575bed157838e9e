"""``POST /generate``: one shopping turn (the book's v0 shape, plus ``sources``), whole or,
with ``"stream": true``, as server-sent events (:mod:`myretail_rag.api.streaming`).

The turn has one deadline (``REQUEST_TIMEOUT_SECONDS``: a 504 after it, or an ``error``
event once streaming) and stops as soon as its client disconnects: the work is cancelled,
and with it any call to the chat model.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Coroutine
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from myretail_common.disconnect import ClientConnection, ClientConnectionDep
from myretail_common.errors import ErrorResponse, PayloadTooLargeError
from myretail_rag.api.dependencies import ComponentsDep
from myretail_rag.api.errors import domain_errors_as_http
from myretail_rag.api.metrics import Metrics
from myretail_rag.api.schemas import GenerateRequest, GenerateResponse, Source
from myretail_rag.api.streaming import STREAM_HEADERS, AnswerStream, timeout_error
from myretail_rag.conversation.assistant import Answer, ShoppingAssistant, TextSink

router = APIRouter(tags=["shopping"])

STREAM_DESCRIPTION = (
    'With "stream": true: server-sent events, `delta` ({"text"}) any number of times, '
    "then `done` (this body) or `error` (the JSON error model); see the README."
)


@router.post(
    "/generate",
    response_model=GenerateResponse,
    summary="Answer a shopping question (conversational, per session)",
    responses={
        200: {
            "description": f"The answer. {STREAM_DESCRIPTION}",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        413: {"model": ErrorResponse, "description": "Prompt too long"},
        504: {"model": ErrorResponse, "description": "No answer within REQUEST_TIMEOUT_SECONDS"},
    },
)
async def generate(
    body: GenerateRequest, components: ComponentsDep, client: ClientConnectionDep
) -> GenerateResponse | StreamingResponse:
    limit = components.settings.max_prompt_chars
    if len(body.prompt) > limit:
        raise PayloadTooLargeError(
            f"prompt is {len(body.prompt)} characters; the limit is {limit} (MAX_PROMPT_CHARS)"
        )
    turn = Turn(body.prompt.strip(), body.session_id, components.metrics)
    deadline = components.settings.request_timeout_seconds
    with domain_errors_as_http(components.metrics):
        assistant = components.require_assistant()
    if body.stream:
        return await turn.stream(assistant, deadline, client)
    with domain_errors_as_http(components.metrics):
        work = asyncio.wait_for(turn.answer(assistant), deadline)
        try:
            answer = await client.unless_disconnected(work)
        except TimeoutError as exc:
            raise timeout_error(deadline) from exc
    return turn.respond(answer)


class Turn:
    """One request's question, its session, and how its answer is reported."""

    def __init__(self, prompt: str, session_id: str | None, metrics: Metrics) -> None:
        self.prompt = prompt
        self.new_session = session_id is None
        self.session_id = session_id or str(uuid.uuid4())
        self.session_key = str(uuid.UUID(self.session_id))  # one key for dashed and plain forms
        self.metrics = metrics
        self.started = time.perf_counter()

    def answer(
        self, assistant: ShoppingAssistant, on_text: TextSink | None = None
    ) -> Coroutine[Any, Any, Answer]:
        """The assistant's answer to this turn."""
        return assistant.answer(
            self.prompt, self.session_key, on_text=on_text, new_session=self.new_session
        )

    async def stream(
        self, assistant: ShoppingAssistant, deadline: float, client: ClientConnection
    ) -> StreamingResponse:
        """The answer as server-sent events, once its first piece is there."""
        stream = AnswerStream(
            lambda sink: self.answer(assistant, on_text=sink),
            deadline,
            self.metrics,
        )
        try:
            with domain_errors_as_http(self.metrics):
                first = await client.unless_disconnected(stream.next_piece())
        except BaseException:
            stream.cancel()
            raise
        return StreamingResponse(
            stream.events(first, self.respond),
            media_type="text/event-stream",
            headers=STREAM_HEADERS,
        )

    def respond(self, answer: Answer) -> GenerateResponse:
        """The response body (also the ``done`` event's), the answer counted."""
        self.metrics.record_answer(answer.mode, time.perf_counter() - self.started, answer.warnings)
        sources = [
            Source(
                product_id=str(hit.metadata.get("product_id") or hit.point_id),
                name=str(hit.metadata.get("name") or ""),
                brand=hit.metadata.get("brand"),
                price=hit.metadata.get("price"),
                rating=hit.metadata.get("rating"),
                score=round(hit.score, 4),
            )
            for hit in answer.sources
        ]
        return GenerateResponse(
            response=answer.response,
            session_id=self.session_id,
            sources=sources,
            mode=answer.mode,
            warnings=answer.warnings,
        )
