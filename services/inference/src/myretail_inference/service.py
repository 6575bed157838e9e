"""Serving logic between the HTTP routes and the engine.

Turns a prompt and request parameters into an engine request (limits checked before
work: new tokens within MAX_NEW_TOKENS_LIMIT before tokenizing, prompt plus new tokens
within the context window before queueing; the tokenizer kept off the event loop for
long texts), maps engine outcomes to the JSON error model (429 queue full, 400 too long
for the context, 504 timeout, 503 not ready or the model server down, 502 the model
server failed), and cancels the engine request when the client goes away.

Each request is answered by one served tag: the one it names (``<name>:<tag>``), else
the stable tag or the canary as :class:`~myretail_inference.canary.TagRouter` decides
for its session; the tag is what the response's ``model`` and ``X-Model-Tag`` name.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from myretail_common.errors import (
    ApiError,
    FieldProblem,
    GatewayTimeoutError,
    ServiceUnavailableError,
    TooManyRequestsError,
    error_response,
)
from myretail_common.quoting import client_text
from myretail_inference.canary import SESSION_HEADER, TagRouter
from myretail_inference.drain import Drain
from myretail_inference.engine_api import (
    Engine,
    EngineError,
    EngineNotReadyError,
    Event,
    Finished,
    PromptTooLongError,
    QueueFullError,
    RequestHandle,
    RequestRefusedError,
    SamplingParams,
    UpstreamUnavailableError,
)
from myretail_inference.metrics import InferenceMetrics
from myretail_inference.schemas import Refusal
from myretail_inference.settings import InferenceSettings
from myretail_inference.upstream import UpstreamFailedError

logger = logging.getLogger(__name__)

_DISCONNECT_POLL_SECONDS = 0.2
# Texts longer than this are tokenized in a worker thread, not on the event loop.
_INLINE_TOKENIZE_CHARS = 4000
# Even one-character tokens cannot fit the context window beyond this many characters
# per token slot; such prompts are refused before tokenizing.
_MAX_CHARS_PER_TOKEN = 64


class ParameterError(ApiError):
    """A client error about one request field, named in the body (OpenAI's ``param``)."""

    def __init__(
        self,
        message: str,
        param: str,
        *,
        status_code: int = 400,
        error_type: str = "invalid_request",
    ) -> None:
        super().__init__(message, status_code=status_code, error_type=error_type)
        self.param = param


async def on_parameter_error(_: Request, exc: Exception) -> JSONResponse:
    """The JSON error model, with the field at fault in ``details`` like a 422's."""
    assert isinstance(exc, ParameterError)
    return error_response(
        exc.status_code,
        exc.error_type,
        exc.message,
        details=[FieldProblem(field=f"body.{exc.param}", message=exc.message)],
        headers=exc.headers,
    )


@dataclass(frozen=True)
class TokenRequest:
    """What a request says about tokens, and the fields that say it (named in errors)."""

    prompt_field: str
    max_new_tokens: int | None = None
    max_new_tokens_field: str = "max_tokens"
    default_max_new_tokens: int | None = None  # the route's default when none is named


@dataclass
class ServingState:
    """What the routes need: settings, metrics, and the engines (one per served tag, the
    stable tag's first) once they are ready."""

    settings: InferenceSettings
    metrics: InferenceMetrics
    engines: dict[str, Engine] = field(default_factory=dict)
    drain: Drain | None = None
    load_error: str | None = None
    loading: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def engine(self) -> Engine | None:
        """The stable tag's engine (None while loading)."""
        return next(iter(self.engines.values()), None)

    @property
    def router(self) -> TagRouter:
        tags = list(self.engines)
        canary = tags[1] if len(tags) > 1 else None
        return TagRouter(tags[0], canary, self.settings.canary_weight if canary else 0)

    def check_ready(self) -> None:
        """Readiness check: raises with the reason while the model is not ready."""
        if self.drain is not None and self.drain.draining:
            raise RuntimeError("shutting down: finishing the requests in flight")
        if self.load_error:
            raise RuntimeError(f"model failed to load: {self.load_error}")
        if not self.engines:
            raise RuntimeError("model is loading" if self.loading else "no model loaded")
        for engine in self.engines.values():
            if engine.failure:
                raise RuntimeError(f"the engine failed: {engine.failure}")
            if not engine.ready:
                raise RuntimeError("model is warming up")

    def check_alive(self) -> None:
        """Liveness check: raises once an engine can never serve again (restart the pod)."""
        for engine in self.engines.values():
            if not engine.alive:
                raise RuntimeError(f"the engine failed: {engine.failure or 'stopped'}")


class GenerationService:
    """One request's way through the engine (built per request; cheap)."""

    def __init__(
        self, state: ServingState, session_key: str | None = None, request: Request | None = None
    ) -> None:
        self.state = state
        self.settings = state.settings
        engine = state.engine
        if engine is None or not engine.ready:
            reason = state.load_error or ("still loading" if engine is None else "warming up")
            raise ServiceUnavailableError("model", reason)
        self.engine = engine
        self.session_key = session_key
        self.request = request

    @property
    def model_ids(self) -> list[str]:
        name = self.engine.info.name
        return [name, *(f"{name}:{tag}" for tag in self.state.engines)]

    def check_model(self, requested: str | None, user: str | None = None) -> str:
        """Choose the tag that answers and return the model id to answer with
        (``<name>:<tag>``); unknown names (compared whole) are a 404.

        A request naming ``<name>:<tag>`` gets that tag; one naming ``<name>`` (or none)
        gets the tag the router picks for its session (``X-Session-Id``, else ``user``).
        """
        name = self.engine.info.name
        by_id = {f"{name}:{tag}": tag for tag in self.state.engines}
        if requested in by_id:
            tag = by_id[requested]
        elif requested is None or requested == name:
            tag = self.state.router.choose(self.session_key or user)
        else:
            raise ParameterError(
                f"model {client_text(requested)} is not served here; available: {name}",
                "model",
                status_code=404,
                error_type="model_not_found",
            )
        engine = self.state.engines[tag]
        if not engine.ready:
            raise ServiceUnavailableError("model", f"tag {tag} is warming up")
        self.engine = engine
        if self.request is not None:
            self.request.state.model_tag = tag  # the X-Model-Tag header (see app.py)
        return f"{name}:{tag}"

    def refuse(self, refusal: Refusal | None) -> None:
        """An OpenAI feature this server does not implement is a 400 that names it."""
        if refusal is not None:
            raise ParameterError(refusal.message, refusal.param, error_type="unsupported_parameter")

    def _check_limit(self, tokens: TokenRequest) -> None:
        limit = self.settings.max_new_tokens_limit
        requested = tokens.max_new_tokens
        if requested is not None and requested > limit:
            raise ParameterError(
                f"at most {limit} new tokens may be requested (asked {requested})",
                tokens.max_new_tokens_field,
            )

    def _new_tokens(self, prompt_tokens: int, tokens: TokenRequest) -> int:
        """New tokens to generate: as asked if prompt and answer fit the context window.

        Without an explicit limit the route's default applies, shortened to what fits; an
        explicit limit that cannot fit is a 400, as OpenAI and vLLM answer.
        """
        context = self.engine.info.context_window
        room = context - prompt_tokens
        if room < 1:
            raise ParameterError(
                str(PromptTooLongError(prompt_tokens, context)),
                tokens.prompt_field,
                error_type="context_length_exceeded",
            )
        requested = tokens.max_new_tokens
        if requested is None:
            default = tokens.default_max_new_tokens or self.settings.default_max_new_tokens
            return min(default, self.settings.max_new_tokens_limit, room)
        if requested > room:
            raise ParameterError(
                f"the model's context window is {context} tokens, but {prompt_tokens} prompt "
                f"tokens plus {tokens.max_new_tokens_field}={requested} make "
                f"{prompt_tokens + requested}; shorten the prompt or ask for at most {room} "
                "new tokens",
                tokens.max_new_tokens_field,
                error_type="context_length_exceeded",
            )
        return requested

    async def encode(self, text: str, prompt_field: str = "prompt") -> list[int]:
        context = self.engine.info.context_window
        if len(text) > context * _MAX_CHARS_PER_TOKEN:
            raise ParameterError(
                f"the prompt is too long: the model's context window is {context} tokens",
                prompt_field,
                error_type="context_length_exceeded",
            )
        if len(text) > _INLINE_TOKENIZE_CHARS:
            return await asyncio.to_thread(self.engine.encode, text)
        return self.engine.encode(text)

    async def submit(
        self, text: str, params: SamplingParams, tokens: TokenRequest
    ) -> RequestHandle:
        """Queue ``text``; ``params.max_new_tokens`` is replaced by what ``tokens`` allows."""
        self._check_limit(tokens)
        prompt_ids = await self.encode(text, tokens.prompt_field)
        params = replace(params, max_new_tokens=self._new_tokens(len(prompt_ids), tokens))
        try:
            handle = self.engine.submit(prompt_ids, params, prompt_text=text)
            await handle.admitted()  # a remote engine: the model server took it
        except PromptTooLongError as exc:
            raise ParameterError(
                str(exc), tokens.prompt_field, error_type="context_length_exceeded"
            ) from exc
        except EngineError as exc:
            raise engine_error(exc) from exc
        return handle

    def raise_for_outcome(self, finished: Finished, handle: RequestHandle | None = None) -> None:
        """Map a final event that is not an answer to the matching error."""
        if finished.finish_reason == "cancelled" and handle is not None and handle.cancelled:
            # Nobody reads this answer; the status keeps logs and metrics honest.
            raise ApiError(
                "the client closed the request", status_code=499, error_type="client_closed"
            )
        if finished.finish_reason == "timeout":
            raise GatewayTimeoutError(
                "generation did not finish within REQUEST_TIMEOUT_SECONDS "
                f"({self.settings.request_timeout_seconds:g} s)"
            )
        if finished.finish_reason == "cancelled":
            raise ServiceUnavailableError("model", "the request was cancelled (shutting down)")
        if finished.finish_reason == "unavailable":
            raise ServiceUnavailableError(MODEL_SERVER, finished.error or "it went away")
        if finished.finish_reason == "error":
            raise ApiError(
                finished.error or "generation failed", status_code=500, error_type="internal_error"
            )

    async def complete(self, handle: RequestHandle, request: Request) -> Finished:
        """Wait for the whole answer; a client that disconnects cancels the request."""
        watcher = asyncio.create_task(watch_disconnect(request, handle))
        try:
            finished = await handle.result()
        finally:
            watcher.cancel()
            handle.cancel()
        self.raise_for_outcome(finished, handle)
        return finished

    async def events(self, handle: RequestHandle, request: Request) -> AsyncIterator[Event]:
        """Stream events; leaving early (client gone) cancels the request."""
        watcher = asyncio.create_task(watch_disconnect(request, handle))
        try:
            async for event in handle.events():
                yield event
        finally:
            watcher.cancel()
            handle.cancel()


async def watch_disconnect(request: Request, handle: RequestHandle) -> None:
    """Cancel ``handle`` as soon as the client disconnects."""
    with contextlib.suppress(asyncio.CancelledError):
        while handle.finished is None:
            if await request.is_disconnected():
                logger.info("client disconnected; cancelling", extra={"id": handle.request_id})
                handle.cancel()
                return
            await asyncio.sleep(_DISCONNECT_POLL_SECONDS)


MODEL_SERVER = "the model server"


def engine_error(exc: EngineError) -> ApiError:
    """The HTTP error for an engine that did not take a request."""
    if isinstance(exc, QueueFullError):
        return TooManyRequestsError(str(exc), retry_after_seconds=1)
    if isinstance(exc, UpstreamUnavailableError):
        return ServiceUnavailableError(MODEL_SERVER, str(exc))
    if isinstance(exc, EngineNotReadyError):
        return ServiceUnavailableError("model", str(exc))
    if isinstance(exc, RequestRefusedError):
        return ApiError(str(exc), status_code=400, error_type="invalid_request")
    if isinstance(exc, UpstreamFailedError):
        return ApiError(str(exc), status_code=502, error_type="bad_gateway")
    return ApiError(str(exc), status_code=500, error_type="internal_error")


async def get_service(request: Request) -> GenerationService:
    """FastAPI dependency: the serving logic, or 503 while the model is not ready. (async:
    FastAPI runs a plain ``def`` dependency in its thread pool, a thread hop per request.)"""
    session = request.headers.get(SESSION_HEADER) or None
    return GenerationService(request.app.state.serving, session, request)
