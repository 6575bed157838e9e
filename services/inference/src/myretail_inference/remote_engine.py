"""The remote engine: the :class:`~myretail_inference.engine_api.Engine` protocol over an
OpenAI-compatible server (vLLM in production) that holds the GPU.

Each request streams from the upstream's ``/v1/completions`` (:mod:`.upstream`), with the
prompt the service rendered and tokenized: prompt limits, ``max_tokens`` against the
context window and the 429 at capacity (``MAX_BATCH_SIZE + MAX_QUEUE_SIZE`` requests in
flight) stay the service's own, from the base model's tokenizer (loaded without weights).
A request is accepted (:meth:`RequestHandle.admitted`) once the upstream answered 200, so
an upstream that is down, busy or refuses the request is a 503, 429 or 400 before any
byte of the answer is sent. Text arrives as the upstream streams it, with the answer's
whitespace trimmed the way the native engine trims it; token counts come from the
upstream's usage. Cancelling a request (a client that went away, the deadline) closes
the upstream connection, which makes vLLM abort it.

``ready`` is true once started; whether the upstream is up is :meth:`RemoteEngine.probe`
(the service's readiness check): its ``/health`` answers and ``/v1/models`` lists the
adapter. The upstream's context window (``max_model_len``) replaces the tokenizer's when
the probe sees it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import time
from dataclasses import replace
from typing import Any

import httpx

from myretail_inference.detokenizer import encode_prompt, visible_text
from myretail_inference.engine_api import (
    EngineError,
    EngineNotReadyError,
    EngineObserver,
    Finished,
    FinishReason,
    ModelInfo,
    NullObserver,
    PromptTooLongError,
    QueueFullError,
    RequestHandle,
    RequestRefusedError,
    SamplingParams,
    TextDelta,
    UpstreamUnavailableError,
)
from myretail_inference.upstream import (
    completion_body,
    server_root,
    sse_payloads,
    status_error,
    stream_error,
)

logger = logging.getLogger(__name__)


class RemoteEngine:
    """Generation by an upstream OpenAI-compatible server (see the module docstring)."""

    def __init__(
        self,
        info: ModelInfo,
        tokenizer: Any,
        *,
        base_url: str,
        upstream_model: str,
        timeout_seconds: float = 30.0,
        request_timeout_seconds: float = 120.0,
        max_in_flight: int = 80,
        observer: EngineObserver | None = None,
    ) -> None:
        self.info = info
        self.tokenizer = tokenizer
        self.base_url = base_url.rstrip("/")
        self.upstream_model = upstream_model
        self.timeout_seconds = timeout_seconds
        self.request_timeout_seconds = request_timeout_seconds
        self.max_in_flight = max_in_flight
        self.observer: EngineObserver = observer or NullObserver()
        self.ready = False
        self.failure: str | None = None
        self._ids = itertools.count(1)
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._waiting = 0  # in flight without a first token yet
        self._client: httpx.AsyncClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def alive(self) -> bool:
        return True  # nothing here can break for good; the upstream's pod restarts itself

    def warmup(self) -> Finished:
        """Nothing to warm here (the upstream warms itself): ready at once."""
        self.ready = True
        return Finished("", "stop", 0, 0, None)

    def stop(self) -> None:
        self.ready = False
        loop, client = self._loop, self._client
        if loop is None or loop.is_closed():
            return
        for task in list(self._tasks.values()):
            loop.call_soon_threadsafe(task.cancel)
        if client is not None:
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)

    def encode(self, text: str) -> list[int]:
        return encode_prompt(self.tokenizer, text)

    # -- the upstream --------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        """The connection pool, made on the serving event loop when first needed."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_seconds),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
            )
            self._loop = loop
        return self._client

    async def probe(self) -> str:
        """Readiness: the upstream is healthy and serves our adapter; raises why not."""
        client = self._http()
        try:
            health = await client.get(f"{server_root(self.base_url)}/health")
            if health.status_code != 200:
                raise RuntimeError(f"the model server's /health answered {health.status_code}")
            listing = await client.get(f"{self.base_url}/models")
            listing.raise_for_status()
        except httpx.HTTPError as exc:
            raise RuntimeError(
                f"the model server at {self.base_url} is unreachable: {exc}"
            ) from exc
        cards = {card.get("id"): card for card in listing.json().get("data", [])}
        card = cards.get(self.upstream_model)
        if card is None:
            served = ", ".join(str(name) for name in cards) or "none"
            raise RuntimeError(
                f"the model server does not serve {self.upstream_model} (serves: {served})"
            )
        self._adopt_context_window(card.get("max_model_len"))
        return "ok"

    def _adopt_context_window(self, upstream: object) -> None:
        if isinstance(upstream, int) and 0 < upstream < self.info.context_window:
            logger.info(
                "context window from the model server",
                extra={"tokens": upstream, "tokenizer": self.info.context_window},
            )
            self.info = replace(self.info, context_window=upstream)

    # -- requests --------------------------------------------------------------------------

    def submit(
        self, prompt_ids: list[int], params: SamplingParams, prompt_text: str | None = None
    ) -> RequestHandle:
        loop = asyncio.get_running_loop()
        if not self.ready:
            self.observer.request_rejected("not_ready")
            raise EngineNotReadyError("the engine is not running")
        if len(prompt_ids) >= self.info.context_window:
            raise PromptTooLongError(len(prompt_ids), self.info.context_window)
        if len(self._tasks) >= self.max_in_flight:
            self.observer.request_rejected("queue_full")
            raise QueueFullError(
                f"the server is at capacity ({len(self._tasks)} requests in flight); retry later"
            )
        request_id = next(self._ids)
        handle = RequestHandle(
            request_id,
            list(prompt_ids),
            params,
            time.monotonic() + self.request_timeout_seconds,
            lambda: self._cancel(request_id),
        )
        handle._bind_loop(loop)
        handle._admission = loop.create_future()
        text = prompt_text
        if text is None:
            text = self.tokenizer.decode(prompt_ids, skip_special_tokens=True)
        stream = _Stream(handle, self.observer)
        task = loop.create_task(self._run(handle, text, stream))
        task.add_done_callback(lambda _: self._forget(stream))
        self._tasks[request_id] = task
        self.observer.request_submitted()
        self._waiting += 1
        self._publish_occupancy()
        return handle

    def _forget(self, stream: _Stream) -> None:
        """Once a request's task is done (even cancelled before it ran): free its place,
        and make sure its caller has an answer."""
        handle = stream.handle
        if stream.waiting:
            self._waiting -= 1
        self._tasks.pop(handle.request_id, None)
        self._publish_occupancy()
        if handle.finished is None:
            _accept(handle)
            handle._put(stream.finish("cancelled", None))

    def _cancel(self, request_id: int) -> None:
        task = self._tasks.get(request_id)
        if task is not None:
            task.cancel()

    def _publish_occupancy(self) -> None:
        self.observer.occupancy(self._waiting, len(self._tasks) - self._waiting)

    async def _run(self, handle: RequestHandle, prompt: str, stream: _Stream) -> None:
        reason: FinishReason = "stop"
        error: str | None = None
        try:
            remaining = handle.deadline - time.monotonic()
            async with asyncio.timeout(max(remaining, 0.0)):
                reason = await self._generate(handle, prompt, stream)
        except asyncio.CancelledError:
            reason = "cancelled"
        except TimeoutError:
            reason = "timeout"
        except (EngineError, httpx.HTTPError, ValueError) as exc:
            reason = "unavailable"
            problem = (
                exc if isinstance(exc, EngineError) else _connection_problem(exc, self.base_url)
            )
            error = str(problem)
            if _refuse(handle, problem):
                self.observer.request_rejected(_rejection(problem))
                stream.rejected = True
        _accept(handle)  # a timeout or a cancel before the upstream answered
        finished = stream.finish(reason, error)
        handle._put(finished)
        if not stream.rejected:
            self.observer.request_finished(finished, time.monotonic() - handle.submitted_at)

    async def _generate(self, handle: RequestHandle, prompt: str, stream: _Stream) -> FinishReason:
        body = completion_body(self.upstream_model, prompt, handle.params)
        url = f"{self.base_url}/completions"
        async with self._http().stream("POST", url, json=body) as response:
            if response.status_code != 200:
                raise status_error(response.status_code, await response.aread(), body["model"])
            _accept(handle)  # the answer streams from here
            reason: FinishReason | None = None
            async for payload in sse_payloads(response.aiter_bytes()):
                problem = stream_error(payload)
                if problem is not None:
                    stream.error = f"the model server failed mid-answer: {problem}"
                    return "unavailable"
                stream.usage = payload.get("usage") or stream.usage
                for choice in payload.get("choices") or []:
                    if stream.add(str(choice.get("text") or "")):
                        self._waiting -= 1
                        self._publish_occupancy()
                    ended = choice.get("finish_reason")
                    if ended is not None:
                        reason = "length" if ended == "length" else "stop"
                        if ended not in ("stop", "length"):  # vLLM's "abort"
                            stream.error = f"the model server ended the answer ({ended})"
                            return "unavailable"
            if reason is None:
                stream.error = "the model server ended the answer early"
                return "unavailable"
            return reason


class _Stream:
    """One request's text as it arrives: deltas shown by the native engine's rules."""

    def __init__(self, handle: RequestHandle, observer: EngineObserver) -> None:
        self.handle = handle
        self.observer = observer
        self.text = ""
        self.sent = ""
        self.first_token_at: float | None = None
        self.usage: dict[str, Any] | None = None
        self.error: str | None = None
        self.rejected = False  # the upstream did not take it: counted as a rejection

    @property
    def waiting(self) -> bool:
        return self.first_token_at is None

    def add(self, delta: str) -> bool:
        """Take new text; True when it is the answer's first."""
        if not delta:
            return False
        first = self.first_token_at is None
        if first:
            self.first_token_at = time.monotonic()
            self.observer.first_token(self.first_token_at - self.handle.submitted_at)
        self.text += delta
        self._show(visible_text(self.text, self.handle.params, final=False))
        return first

    def _show(self, visible: str) -> None:
        if visible.startswith(self.sent) and len(visible) > len(self.sent):
            self.handle._put(TextDelta(visible[len(self.sent) :]))
            self.sent = visible

    def finish(self, reason: FinishReason, error: str | None) -> Finished:
        if reason in ("stop", "length"):
            self._show(visible_text(self.text, self.handle.params, final=True))
        usage = self.usage or {}
        prompt_tokens = usage.get("prompt_tokens")
        completion_tokens = usage.get("completion_tokens")
        return Finished(
            text=self.sent,
            finish_reason=reason,
            prompt_tokens=prompt_tokens
            if isinstance(prompt_tokens, int)
            else len(self.handle.prompt_ids),
            completion_tokens=completion_tokens if isinstance(completion_tokens, int) else 0,
            time_to_first_token=(
                self.first_token_at - self.handle.submitted_at if self.first_token_at else None
            ),
            error=error or self.error,
        )


def _accept(handle: RequestHandle) -> None:
    """Settle the handle's admission as accepted (once)."""
    admission = handle._admission
    if admission is not None and not admission.done():
        admission.set_result(None)


def _refuse(handle: RequestHandle, error: EngineError) -> bool:
    """Settle the handle's admission as refused; False once it was accepted already."""
    admission = handle._admission
    if admission is None or admission.done():
        return False
    admission.set_exception(error)
    return True


def _rejection(error: EngineError) -> str:
    """The ``rejected_*`` outcome of a request the upstream did not take."""
    if isinstance(error, QueueFullError):
        return "queue_full"
    if isinstance(error, RequestRefusedError):
        return "invalid"
    if isinstance(error, UpstreamUnavailableError):
        return "unavailable"
    return "upstream_error"


def _connection_problem(exc: Exception, base_url: str) -> UpstreamUnavailableError:
    if isinstance(exc, httpx.ConnectError):
        return UpstreamUnavailableError(f"cannot connect to the model server at {base_url}")
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamUnavailableError(f"the model server at {base_url} did not answer in time")
    if isinstance(exc, ValueError):
        return UpstreamUnavailableError("the model server sent a malformed answer")
    return UpstreamUnavailableError(
        f"the connection to the model server at {base_url} broke ({type(exc).__name__})"
    )
