"""The engine's narrow interface: what the HTTP layer and tests use.

Requests go in as token ids plus :class:`SamplingParams`; out come :class:`TextDelta`
events and one :class:`Finished`, through a :class:`RequestHandle`. The scheduler behind
it (:mod:`myretail_inference.engine`) can change without touching the API. This module
imports nothing heavy (no torch), so the app and its schemas load fast.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

# "unavailable": a remote engine's upstream went away mid-request (the service answers 503).
FinishReason = Literal["stop", "length", "cancelled", "timeout", "error", "unavailable"]

# How long past its deadline a caller still waits for the engine's own final event.
DEADLINE_GRACE_SECONDS = 5.0


class EngineError(Exception):
    """Base class of errors the engine raises to callers."""


class QueueFullError(EngineError):
    """Every batch slot is taken and the waiting queue is full."""


class EngineNotReadyError(EngineError):
    """The engine is not started (or is stopping)."""


class EngineFailedError(EngineNotReadyError):
    """The engine stopped for good (a device error): the process must be restarted."""


class UpstreamUnavailableError(EngineNotReadyError):
    """A remote engine's upstream server cannot be reached or is overloaded."""


class RequestRefusedError(EngineError):
    """The engine (a remote engine's upstream) refused the request as invalid."""


class PromptTooLongError(EngineError):
    """The prompt does not fit the model's context window."""

    def __init__(self, prompt_tokens: int, context_window: int) -> None:
        super().__init__(
            f"the prompt is {prompt_tokens} tokens but the model's context window is "
            f"{context_window} tokens (at most {context_window - 1} prompt tokens, leaving "
            "room for at least one new token)"
        )
        self.prompt_tokens = prompt_tokens
        self.context_window = context_window


@dataclass(frozen=True)
class SamplingParams:
    """How one request generates. ``temperature == 0`` means greedy decoding.

    ``top_k == 0`` keeps every token; ``seed`` makes sampling reproducible (the same
    tokens whoever shares the batch).
    """

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()
    ignore_eos: bool = False
    # Answer mode: no leading or trailing whitespace, in the stream as in the final text.
    trim_whitespace: bool = False

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if self.temperature < 0:
            raise ValueError("temperature must not be negative")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must not be negative")
        if self.repetition_penalty <= 0:
            raise ValueError("repetition_penalty must be positive")
        if any(not stop for stop in self.stop):
            raise ValueError("stop sequences must not be empty")


@dataclass(frozen=True)
class TextDelta:
    """New text of a running request (may be empty for tokens that add no text yet)."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The last event of every request."""

    text: str
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int
    time_to_first_token: float | None
    error: str | None = None


Event = TextDelta | Finished
Sink = Callable[[Event], None]


class EngineObserver(Protocol):
    """Receives the engine's measurements (Prometheus metrics in the service)."""

    def request_submitted(self) -> None: ...
    def request_rejected(self, reason: str) -> None: ...
    def first_token(self, seconds: float) -> None: ...
    def request_finished(self, finished: Finished, seconds: float) -> None: ...
    def forward_pass(self, kind: str, batch_size: int, seconds: float) -> None: ...
    def occupancy(self, queue_depth: int, active: int) -> None: ...
    def kv_cache_usage(self, ratio: float) -> None: ...


class NullObserver:
    def request_submitted(self) -> None:
        pass

    def request_rejected(self, reason: str) -> None:
        pass

    def first_token(self, seconds: float) -> None:
        pass

    def request_finished(self, finished: Finished, seconds: float) -> None:
        pass

    def forward_pass(self, kind: str, batch_size: int, seconds: float) -> None:
        pass

    def occupancy(self, queue_depth: int, active: int) -> None:
        pass

    def kv_cache_usage(self, ratio: float) -> None:
        pass


@dataclass(frozen=True)
class ModelInfo:
    """What the service reports about the model it serves."""

    name: str
    tag: str
    context_window: int
    base_model: str = ""
    method: str = ""
    quantization: str = "none"
    device: str = "cpu"
    created: int = field(default_factory=lambda: int(time.time()))


class RequestHandle:
    """One submitted request: iterate :meth:`events`, :meth:`cancel` to give up."""

    def __init__(
        self,
        request_id: int,
        prompt_ids: list[int],
        params: SamplingParams,
        deadline: float,
        wake: Callable[[], None],
    ) -> None:
        self.request_id = request_id
        self.prompt_ids = prompt_ids
        self.params = params
        self.deadline = deadline
        self.submitted_at = time.monotonic()
        self.cancelled = False
        self._wake = wake
        self._queue: asyncio.Queue[Event] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sink: Sink = lambda event: None
        self.finished: Finished | None = None
        # Set by engines that accept a request only once a server answered (a remote
        # engine): resolves then, or raises why it was not accepted (see admitted()).
        self._admission: asyncio.Future[None] | None = None

    def _bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._queue = asyncio.Queue()
        self._loop = loop

    def _emit(self, event: Event) -> None:
        deliver([(self, event)])

    def _put(self, event: Event) -> None:
        """Hand ``event`` over from the handle's own event loop (an engine that runs on
        it, like the remote engine): straight into the queue, with no cross-thread
        wake-up of the loop per event."""
        if isinstance(event, Finished):
            self.finished = event
        assert self._queue is not None
        self._queue.put_nowait(event)

    async def _next_event(self, queue: asyncio.Queue[Event], text: str) -> Event:
        """The next event, or a timeout once the deadline (plus a grace) has passed.

        The engine ends late requests itself; this is the backstop for an engine that can
        no longer do so (a dead engine thread), so no caller ever waits forever.
        """
        if not queue.empty():  # nothing to wait for, so no timer to arm
            return queue.get_nowait()
        remaining = self.deadline + DEADLINE_GRACE_SECONDS - time.monotonic()
        try:
            async with asyncio.timeout(max(remaining, 0.0)):
                return await queue.get()
        except TimeoutError:
            self.cancel()
            self.finished = Finished(
                text, "timeout", len(self.prompt_ids), 0, None, "the engine did not answer"
            )
            return self.finished

    async def events(self) -> AsyncIterator[Event]:
        """Text deltas, then one :class:`Finished`. Leaving early cancels the request.

        Deltas that piled up while the consumer was busy come as one, so a slow client
        (or a busy event loop) gets fewer, larger chunks instead of falling behind.
        """
        queue = self._queue
        if queue is None:
            raise RuntimeError("events() needs a handle submitted from an event loop")
        done = False
        text = ""
        try:
            while not done:
                event = await self._next_event(queue, text)
                final: Finished | None = None
                if isinstance(event, TextDelta) and not queue.empty():
                    parts = [event.text]
                    while not queue.empty():
                        queued = queue.get_nowait()
                        if isinstance(queued, TextDelta):
                            parts.append(queued.text)
                        else:
                            final = queued
                            break
                    event = TextDelta("".join(parts))
                done = isinstance(event, Finished)
                if isinstance(event, TextDelta):
                    text += event.text
                yield event
                if final is not None:
                    done = True
                    yield final
        finally:
            if not done:
                self.cancel()

    async def admitted(self) -> None:
        """Wait until the engine has accepted the request; raises :class:`EngineError`
        subclasses when it was not (at once for an engine that accepts on submit)."""
        if self._admission is not None:
            await self._admission

    async def result(self) -> Finished:
        """Wait for the final event."""
        async for event in self.events():
            if isinstance(event, Finished):
                return event
        raise RuntimeError("the engine ended a request without a final event")

    def cancel(self) -> None:
        """Stop generating for this request (a disconnected client); its slot frees."""
        if not self.cancelled and self.finished is None:
            self.cancelled = True
            self._wake()


def deliver(events: Sequence[tuple[RequestHandle, Event]]) -> None:
    """Hand events to their requests: one wake-up per event loop for all of them.

    The engine thread calls this once per step with every row's event, so a batch of
    16 streams costs the event loop one cross-thread wake-up, not 16.
    """
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[RequestHandle, Event]]] = {}
    for handle, event in events:
        if isinstance(event, Finished):
            handle.finished = event
        if handle._loop is None:
            handle._sink(event)
        else:
            by_loop.setdefault(handle._loop, []).append((handle, event))
    for loop, items in by_loop.items():
        try:
            loop.call_soon_threadsafe(_put_all, items)
        except RuntimeError:  # the loop is closed: nobody is listening any more
            for handle, _ in items:
                handle.cancelled = True


def _put_all(items: list[tuple[RequestHandle, Event]]) -> None:
    for handle, event in items:
        assert handle._queue is not None
        handle._queue.put_nowait(event)


class Engine(Protocol):
    """Everything the service calls on an engine (the HTTP layer sees nothing else)."""

    info: ModelInfo
    ready: bool  # started and warmed up: requests are accepted
    observer: EngineObserver
    # Why the engine stopped for good (a device error, its thread died); None while it
    # works. Readiness fails and the process should exit so it is restarted.
    failure: str | None

    @property
    def alive(self) -> bool:
        """False once the engine can never serve again (liveness: restart the process)."""
        ...

    def warmup(self) -> Finished:
        """Serve one short request end to end so the first real one is not slow; sets ready."""
        ...

    def encode(self, text: str) -> list[int]: ...

    def submit(
        self, prompt_ids: list[int], params: SamplingParams, prompt_text: str | None = None
    ) -> RequestHandle:
        """Queue a request (from a coroutine). ``prompt_text`` is the text ``prompt_ids``
        were encoded from, for engines that send text on (a remote engine)."""
        ...

    def stop(self) -> None:
        """Finish or cancel every request and release the engine's resources."""
        ...
