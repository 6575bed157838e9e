"""The book-compatible (v0) ``POST /generate``: a question in, the answer only out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from myretail_common.errors import ErrorResponse
from myretail_common.prompt import STOP_SEQUENCES, build_prompt, extract_answer
from myretail_inference.engine_api import SamplingParams
from myretail_inference.schemas import GenerateRequest, GenerateResponse, Usage
from myretail_inference.service import GenerationService, TokenRequest, get_service

router = APIRouter(tags=["generate"])

_ERRORS: dict[int | str, dict[str, object]] = {
    429: {"model": ErrorResponse, "description": "At capacity; retry after Retry-After"},
    504: {"model": ErrorResponse, "description": "REQUEST_TIMEOUT_SECONDS passed"},
}


@router.post(
    "/generate",
    response_model=GenerateResponse,
    summary="Answer a Loyalty Program question (the book's v0 API)",
    responses=_ERRORS,
)
async def generate(
    body: GenerateRequest,
    request: Request,
    service: Annotated[GenerationService, Depends(get_service)],
) -> GenerateResponse:
    model = service.check_model(None)  # the stable tag, or the canary for this session
    params = SamplingParams(  # max_new_tokens: set by submit, from the TokenRequest
        temperature=body.temperature,
        top_p=body.top_p,
        repetition_penalty=body.repetition_penalty,
        seed=body.seed,
        stop=STOP_SEQUENCES,
        trim_whitespace=True,
    )
    tokens = TokenRequest("prompt", body.max_new_tokens, "max_new_tokens")
    handle = await service.submit(build_prompt(body.prompt), params, tokens)
    finished = await service.complete(handle, request)
    return GenerateResponse(
        response=extract_answer(finished.text),
        usage=Usage(
            prompt_tokens=finished.prompt_tokens,
            completion_tokens=finished.completion_tokens,
            total_tokens=finished.prompt_tokens + finished.completion_tokens,
        ),
        finish_reason="length" if finished.finish_reason == "length" else "stop",
        model=model,
    )
