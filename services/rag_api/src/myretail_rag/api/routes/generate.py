"""``POST /generate``: one shopping turn (the book's v0 shape, plus ``sources``)."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter

from myretail_common.errors import ErrorResponse, PayloadTooLargeError
from myretail_rag.api.dependencies import ComponentsDep
from myretail_rag.api.errors import domain_errors_as_http
from myretail_rag.api.schemas import GenerateRequest, GenerateResponse, Source

router = APIRouter(tags=["shopping"])


@router.post(
    "/generate",
    response_model=GenerateResponse,
    summary="Answer a shopping question (conversational, per session)",
    responses={413: {"model": ErrorResponse, "description": "Prompt too long"}},
)
async def generate(body: GenerateRequest, components: ComponentsDep) -> GenerateResponse:
    limit = components.settings.max_prompt_chars
    if len(body.prompt) > limit:
        raise PayloadTooLargeError(
            f"prompt is {len(body.prompt)} characters; the limit is {limit} (MAX_PROMPT_CHARS)"
        )
    session_id = body.session_id or str(uuid.uuid4())
    session_key = str(uuid.UUID(session_id))  # one key for dashed and plain forms
    started = time.perf_counter()
    metrics = components.metrics
    with domain_errors_as_http(metrics):
        assistant = components.require_assistant()
        answer = await assistant.answer(body.prompt.strip(), session_key)
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
        response=answer.response, session_id=session_id, sources=sources, mode=answer.mode
    )
