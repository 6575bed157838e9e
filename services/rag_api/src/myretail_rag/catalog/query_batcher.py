"""Query embeddings of concurrent requests, computed together: one model call per batch.

A request embeds one short question; alone, that is one forward pass of the model per
request, and concurrent requests fight over the cores. :class:`QueryBatcher` queues the
questions and embeds them in batches on threads of its own (off the event loop): a batch
starts with the first waiting question and takes every question that arrives within
``max_wait_seconds`` of it (a few milliseconds), up to ``max_batch_size``. While the model
works on one batch the next one gathers, so under load batches fill up by themselves.

``workers`` threads embed batches side by side; one gathers at a time, so batches do not
split. On CPU, two single-threaded model calls at once get much more from two cores than
one call on two threads: a small batch's operations are too short to spread over threads
(measured with MiniLM, batches of 8: 590 vs 400 questions/s; see
:func:`~myretail_rag.catalog.embeddings.load_embeddings` for the threads per call).

Callers get a :class:`concurrent.futures.Future` (``submit``), or await the vector
(``embed``), or block for it from a worker thread (``embed_blocking``). A batch whose model
call fails fails its own questions only, each with the model's
:class:`~myretail_rag.catalog.embeddings.EmbeddingsUnavailableError`; the next batch is
tried afresh. A question whose caller gave up (a cancelled request) before its batch
started is left out of the batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from myretail_rag.catalog.embeddings import EmbeddingModel, EmbeddingsUnavailableError

logger = logging.getLogger(__name__)

#: Called after each model call with the batch size and its seconds (metrics).
BatchObserver = Callable[[int, float], None]


@dataclass
class _Question:
    text: str
    future: Future[list[float]] = field(default_factory=Future)
    arrived: float = field(default_factory=time.monotonic)


class QueryBatcher:
    """Batches of query embeddings, one model call each, on ``workers`` threads."""

    def __init__(
        self,
        embeddings: EmbeddingModel,
        max_batch_size: int = 32,
        max_wait_seconds: float = 0.001,
        on_batch: BatchObserver | None = None,
        workers: int = 1,
    ) -> None:
        if max_batch_size < 1:
            raise ValueError("max_batch_size must be at least 1")
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.embeddings = embeddings
        self.max_batch_size = max_batch_size
        self.max_wait_seconds = max(0.0, max_wait_seconds)
        self.on_batch = on_batch
        self.workers = workers
        self._queue: queue.SimpleQueue[_Question | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._gathering = threading.Lock()  # one worker gathers a batch at a time
        self._threads: list[threading.Thread] = []
        self._closed = False

    @property
    def waiting(self) -> int:
        """Questions queued for a batch that has not started yet."""
        return self._queue.qsize()

    # -- asking ----------------------------------------------------------------------------

    def submit(self, text: str) -> Future[list[float]]:
        """The future unit-length vector of ``text``."""
        question = _Question(text)
        with self._lock:
            if self._closed:
                raise EmbeddingsUnavailableError("the query embedding batcher is closed")
            if not self._threads:
                self._threads = [
                    threading.Thread(target=self._run, name=f"query-embeddings-{n}", daemon=True)
                    for n in range(self.workers)
                ]
                for thread in self._threads:
                    thread.start()
            self._queue.put(question)
        return question.future

    async def embed(self, text: str) -> list[float]:
        """The vector of ``text`` (cancelling the await drops it from its batch)."""
        return await asyncio.wrap_future(self.submit(text))

    def embed_blocking(self, text: str) -> list[float]:
        """The vector of ``text``, from a thread that may wait (never the event loop)."""
        return self.submit(text).result()

    def close(self) -> None:
        """Finish the batches in progress; questions still queued fail."""
        with self._lock:
            self._closed = True
            threads = self._threads
            for _ in threads:
                self._queue.put(None)  # one stop for each worker
        for thread in threads:
            thread.join(timeout=30)
        while True:
            try:
                question = self._queue.get_nowait()
            except queue.Empty:
                break
            if question is not None and question.future.set_running_or_notify_cancel():
                question.future.set_exception(
                    EmbeddingsUnavailableError("the service is shutting down")
                )

    # -- the batching thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._gathering:
                first = self._queue.get()
                if first is None:
                    return
                batch, stop = self._gather(first)
            self._embed(batch)
            if stop:
                return

    def _gather(self, first: _Question) -> tuple[list[_Question], bool]:
        """``first`` and what arrives within the wait after it; whether to stop after."""
        batch = [first]
        deadline = first.arrived + self.max_wait_seconds
        while len(batch) < self.max_batch_size:
            try:  # past the deadline: only what is queued already
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                return batch, True
            batch.append(item)
        return batch, False

    def _embed(self, batch: list[_Question]) -> None:
        live = [question for question in batch if question.future.set_running_or_notify_cancel()]
        if not live:
            return
        started = time.perf_counter()
        try:
            vectors = self.embeddings.embed_queries([question.text for question in live])
        except Exception as exc:
            reason = (
                str(exc)
                if isinstance(exc, EmbeddingsUnavailableError)
                else f"query embedding failed: {type(exc).__name__}: {exc}"[:300]
            )
            logger.warning(
                "query embedding batch failed", extra={"queries": len(live), "reason": reason}
            )
            for question in live:  # one exception each: they are raised in different tasks
                question.future.set_exception(EmbeddingsUnavailableError(reason))
            return
        for question, vector in zip(live, vectors, strict=True):
            question.future.set_result(vector)
        if self.on_batch is not None:
            self.on_batch(len(live), time.perf_counter() - started)
