"""``POST /generate``: one shopping turn (seed shape, plus ``sources``)."""

from __future__ import annotations

import re
import time
import uuid

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator

from myretail_common.errors import (
    ErrorResponse,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from myretail_rag.components import Components

router = APIRouter(tags=["shopping"])

_UUID = re.compile(
    r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{12})$"
)


class GenerateRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"prompt": "Please suggest walking shoes for a 60 year old man, in a table format"}
            ]
        }
    )

    prompt: str = Field(min_length=1, description="The shopper's message (not blank)")
    session_id: str | None = Field(
        default=None,
        description="A UUID from a previous answer to continue that conversation; "
        "omitted: a new session",
    )

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be blank")
        return value

    @field_validator("session_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _UUID.match(value):
            raise ValueError("session_id must be a UUID (32 hex digits, dashes optional)")
        return value


class Source(BaseModel):
    product_id: str
    name: str
    brand: str | None = None
    price: float | None = None
    rating: float | None = None
    score: float = Field(description="Cosine similarity of the product to the search")


class GenerateResponse(BaseModel):
    response: str = Field(description="The answer (Markdown)")
    session_id: str = Field(description="Send it back to continue the conversation")
    sources: list[Source] = Field(description="The catalog products the answer is based on")
    mode: str = Field(description="llm, retrieval_only or retrieval_only_fallback")


def _components(request: Request) -> Components:
    components: Components = request.app.state.components
    return components


@router.post(
    "/generate",
    response_model=GenerateResponse,
    summary="Answer a shopping question (conversational, per session)",
    responses={413: {"model": ErrorResponse, "description": "Prompt too long"}},
)
async def generate(body: GenerateRequest, request: Request) -> GenerateResponse:
    components = _components(request)
    limit = components.settings.max_prompt_chars
    if len(body.prompt) > limit:
        raise PayloadTooLargeError(
            f"prompt is {len(body.prompt)} characters; the limit is {limit} (MAX_PROMPT_CHARS)"
        )
    session_id = body.session_id or str(uuid.uuid4())
    session_key = str(uuid.UUID(session_id))  # one key for dashed and plain forms
    started = time.perf_counter()
    try:
        assistant = components.require_assistant()
        answer = await assistant.answer(body.prompt.strip(), session_key)
    except ServiceUnavailableError as exc:
        components.metrics.failures.labels(exc.dependency).inc()
        raise
    components.metrics.answers.labels(answer.mode).inc()
    components.metrics.answer_seconds.labels(answer.mode).observe(time.perf_counter() - started)
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
