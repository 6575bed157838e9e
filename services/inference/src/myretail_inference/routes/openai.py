"""The OpenAI-compatible API: ``/v1/models``, ``/v1/chat/completions``, ``/v1/completions``.

Non-streaming answers are one JSON object; ``stream: true`` answers are server-sent
events, one ``data: {chunk}`` per text delta, a last chunk with ``finish_reason``, an
optional usage chunk (``stream_options.include_usage``) and ``data: [DONE]``. Errors
after the stream started (a timeout) arrive as ``data: {"error": ...}`` before
``[DONE]``, which the official ``openai`` client raises as an API error. Every error is
in OpenAI's shape (:mod:`myretail_inference.routes.openai_errors`), and a feature this
server does not implement (tools, JSON mode, n > 1, logprobs...) is a 400 naming it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from pydantic_core import to_json

from myretail_common.errors import ApiError
from myretail_common.prompt import STOP_SEQUENCES
from myretail_inference.engine_api import Finished, RequestHandle, SamplingParams, TextDelta
from myretail_inference.prompting import chat_prompt
from myretail_inference.routes.openai_errors import openai_error
from myretail_inference.schemas import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatCompletionResponse,
    ChatDelta,
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    ModelCard,
    ModelList,
    OpenAIErrorResponse,
    Usage,
    new_id,
    now,
)
from myretail_inference.service import GenerationService, TokenRequest, get_service

OPENAI_DEFAULT_TEMPERATURE = 1.0
COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # as OpenAI's legacy completions API


def _error_doc(description: str) -> dict[str, Any]:
    return {"model": OpenAIErrorResponse, "description": description}


# Every /v1 error is in OpenAI's shape (these replace the app's project-model entries).
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _error_doc("Invalid JSON, an unsupported feature, or too long for the context"),
    413: _error_doc("The request body is too large"),
    422: _error_doc("Invalid request: a field is missing, mistyped or out of range"),
    503: _error_doc("The model is not ready"),
}
_GENERATION_ERRORS: dict[int | str, dict[str, Any]] = {
    404: _error_doc("Unknown model"),
    429: _error_doc("At capacity; retry after Retry-After"),
    504: _error_doc("REQUEST_TIMEOUT_SECONDS passed"),
    200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}},
}

router = APIRouter(prefix="/v1", tags=["openai"], responses=_ERRORS)
_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _usage(finished: Finished) -> Usage:
    return Usage(
        prompt_tokens=finished.prompt_tokens,
        completion_tokens=finished.completion_tokens,
        total_tokens=finished.prompt_tokens + finished.completion_tokens,
    )


FinishReason = Literal["stop", "length"]


def _finish_reason(finished: Finished) -> FinishReason:
    return "length" if finished.finish_reason == "length" else "stop"


def _sse(payload: BaseModel | dict[str, Any]) -> str:
    if isinstance(payload, BaseModel):
        text = payload.model_dump_json(exclude_none=False)
    else:
        text = json.dumps(payload)
    return f"data: {text}\n\n"


# Stands for a delta's text in a chunk rendered once per stream (see _delta_chunks).
_TEXT_MARK = "\x00myretail-delta-text\x00"


def _delta_chunks(render: Callable[[str], str]) -> Callable[[str], str]:
    """``render`` (a text delta's whole SSE chunk), byte for byte, without building and
    dumping the pydantic models once per token: the chunk is rendered once with a mark
    for the text, and each delta is the JSON string pydantic would write put in its place.
    """
    rendered = render(_TEXT_MARK)
    mark = to_json(_TEXT_MARK).decode()
    if rendered.count(mark) != 1:  # the mark also in the model's name: render each one
        return render
    before, after = rendered.split(mark)
    return lambda text: before + to_json(text).decode() + after


def _check(service: GenerationService, body: ChatCompletionRequest | CompletionRequest) -> str:
    """The model id to answer with, once the model and the features asked for are served."""
    model = service.check_model(body.model, body.user)
    service.refuse(body.unsupported())
    return model


def _params(
    body: ChatCompletionRequest | CompletionRequest, stop: tuple[str, ...], trim: bool
) -> SamplingParams:
    """Sampling as the request asks; max_new_tokens is set by submit, from a TokenRequest."""
    return SamplingParams(
        temperature=(
            body.temperature if body.temperature is not None else OPENAI_DEFAULT_TEMPERATURE
        ),
        top_p=body.top_p if body.top_p is not None else 1.0,
        top_k=max(body.top_k or 0, 0),
        repetition_penalty=body.repetition_penalty or 1.0,
        seed=body.seed,
        stop=stop,
        ignore_eos=body.ignore_eos,
        trim_whitespace=trim,
    )


async def _event_stream(
    service: GenerationService,
    handle: RequestHandle,
    request: Request,
    first: list[str],
    delta_chunk: Callable[[str], str],
    final_chunk: Callable[[Finished], str],
    usage_chunk: Callable[[Finished], str] | None,
) -> AsyncIterator[str]:
    for chunk in first:
        yield chunk
    async for event in service.events(handle, request):
        if isinstance(event, TextDelta):
            if event.text:
                yield delta_chunk(event.text)
            continue
        try:
            service.raise_for_outcome(event)
        except ApiError as exc:
            yield _sse(openai_error(exc.status_code, exc.message, code=exc.error_type))
            break
        yield final_chunk(event)
        if usage_chunk is not None:
            yield usage_chunk(event)
    yield "data: [DONE]\n\n"


def _streaming(body: AsyncIterator[str]) -> StreamingResponse:
    return StreamingResponse(body, media_type="text/event-stream", headers=_SSE_HEADERS)


@router.get(
    "/models",
    response_model=ModelList,
    summary="The served model (and, with a canary, each served tag as <name>:<tag>)",
)
async def list_models(
    service: Annotated[GenerationService, Depends(get_service)],
) -> ModelList:
    info = service.engine.info
    stable = ModelCard(
        id=info.name,
        created=info.created,
        root=f"{info.name}:{info.tag}",
        max_model_len=info.context_window,
    )
    engines = service.state.engines
    if len(engines) < 2:
        return ModelList(data=[stable])
    tagged = [
        ModelCard(
            id=f"{info.name}:{tag}",
            created=engine.info.created,
            root=f"{info.name}:{tag}",
            max_model_len=engine.info.context_window,
        )
        for tag, engine in engines.items()
    ]
    return ModelList(data=[stable, *tagged])


@router.post(
    "/chat/completions",
    response_model=ChatCompletionResponse,
    summary="Chat completion (OpenAI-compatible; stream: true for server-sent events)",
    responses=_GENERATION_ERRORS,
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    service: Annotated[GenerationService, Depends(get_service)],
) -> ChatCompletionResponse | StreamingResponse:
    model = _check(service, body)
    stop = tuple(dict.fromkeys([*STOP_SEQUENCES, *body.stop_list()]))
    max_tokens, max_tokens_field = body.requested_max_tokens()
    tokens = TokenRequest("messages", max_tokens, max_tokens_field)
    params = _params(body, stop, trim=True)
    handle = await service.submit(chat_prompt(body.messages), params, tokens)
    completion_id, created = new_id("chatcmpl"), now()

    if not body.stream:
        finished = await service.complete(handle, request)
        return ChatCompletionResponse(
            id=completion_id,
            created=created,
            model=model,
            choices=[
                ChatChoice(
                    message=AssistantMessage(content=finished.text),
                    finish_reason=_finish_reason(finished),
                )
            ],
            usage=_usage(finished),
        )

    include_usage = body.wants_usage_chunk()

    def chunk(delta: ChatDelta, finish: FinishReason | None = None) -> str:
        return _sse(
            ChatCompletionChunk(
                id=completion_id,
                created=created,
                model=model,
                choices=[ChatChunkChoice(delta=delta, finish_reason=finish)],
            )
        )

    def usage(finished: Finished) -> str:
        return _sse(
            ChatCompletionChunk(
                id=completion_id, created=created, model=model, choices=[], usage=_usage(finished)
            )
        )

    return _streaming(
        _event_stream(
            service,
            handle,
            request,
            first=[chunk(ChatDelta(role="assistant", content=""))],
            delta_chunk=_delta_chunks(lambda text: chunk(ChatDelta(content=text))),
            final_chunk=lambda finished: chunk(ChatDelta(), _finish_reason(finished)),
            usage_chunk=usage if include_usage else None,
        )
    )


@router.post(
    "/completions",
    response_model=CompletionResponse,
    summary="Text completion of a raw prompt (OpenAI-compatible; stream: true for SSE)",
    responses=_GENERATION_ERRORS,
)
async def completions(
    body: CompletionRequest,
    request: Request,
    service: Annotated[GenerationService, Depends(get_service)],
) -> CompletionResponse | StreamingResponse:
    model = _check(service, body)
    prompt = body.prompt_text()
    tokens = TokenRequest("prompt", body.max_tokens, "max_tokens", COMPLETIONS_DEFAULT_MAX_TOKENS)
    params = _params(body, tuple(dict.fromkeys(body.stop_list())), trim=False)
    handle = await service.submit(prompt, params, tokens)
    completion_id, created = new_id("cmpl"), now()
    echo = prompt if body.echo else ""

    if not body.stream:
        finished = await service.complete(handle, request)
        return CompletionResponse(
            id=completion_id,
            created=created,
            model=model,
            choices=[
                CompletionChoice(text=echo + finished.text, finish_reason=_finish_reason(finished))
            ],
            usage=_usage(finished),
        )

    include_usage = body.wants_usage_chunk()

    def chunk(text: str, finish: FinishReason | None = None, usage: Usage | None = None) -> str:
        choices = [] if usage else [CompletionChoice(text=text, finish_reason=finish)]
        return _sse(
            CompletionResponse(
                id=completion_id, created=created, model=model, choices=choices, usage=usage
            )
        )

    return _streaming(
        _event_stream(
            service,
            handle,
            request,
            first=[chunk(echo)] if echo else [],
            delta_chunk=_delta_chunks(chunk),
            final_chunk=lambda finished: chunk("", _finish_reason(finished)),
            usage_chunk=(lambda finished: chunk("", usage=_usage(finished)))
            if include_usage
            else None,
        )
    )
