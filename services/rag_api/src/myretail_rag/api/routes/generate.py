"""``POST /generate``: one shopping turn (the book's v0 shape, plus ``sources``).

The turn has one deadline (``REQUEST_TIMEOUT_SECONDS``: a 504 after it) and stops as soon
as its client disconnects: the work is cancelled, and with it any call to the chat model.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from fastapi import APIRouter

from myretail_common.disconnect import ClientConnectionDep
from myretail_common.errors import ErrorResponse, GatewayTimeoutError, PayloadTooLargeError
from myretail_rag.api.dependencies import ComponentsDep
from myretail_rag.api.errors import domain_errors_as_http
from myretail_rag.api.schemas import GenerateRequest, GenerateResponse, Source

router = APIRouter(tags=["shopping"])


@router.post(
    "/generate",
    response_model=GenerateResponse,
    summary="Answer a shopping question (conversational, per session)",
    responses={
        413: {"model": ErrorResponse, "description": "Prompt too long"},
        504: {"model": ErrorResponse, "description": "No answer within REQUEST_TIMEOUT_SECONDS"},
    },
)
async def generate(
    body: GenerateRequest, components: ComponentsDep, client: ClientConnectionDep
) -> GenerateResponse:
    limit = components.settings.max_prompt_chars
    if len(body.prompt) > limit:
        raise PayloadTooLargeError(
            f"prompt is {len(body.prompt)} characters; the limit is {limit} (MAX_PROMPT_CHARS)"
        )
    session_id = body.session_id or str(uuid.uuid4())
    session_key = str(uuid.UUID(session_id))  # one key for dashed and plain forms
    started = time.perf_counter()
    metrics = components.metrics
    deadline = components.settings.request_timeout_seconds
    with domain_errors_as_http(metrics):
        assistant = components.require_assistant()
        work = asyncio.wait_for(assistant.answer(body.prompt.strip(), session_key), deadline)
        try:
            answer = await client.unless_disconnected(work)
        except TimeoutError as exc:
            raise GatewayTimeoutError(
                f"no answer within {deadline:g}s (REQUEST_TIMEOUT_SECONDS)"
            ) from exc
    metrics.answers.labels(answer.mode).inc()
    metrics.answer_seconds.labels(answer.mode).observe(time.perf_counter() - started)
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
        session_id=session_id,
        sources=sources,
        mode=answer.mode,
        warnings=answer.warnings,
    )
