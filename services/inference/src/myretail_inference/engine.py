"""The continuous-batching generation engine.

One background thread owns the model and runs every forward pass. Running sequences
share one left-padded batch with an attention mask, per-sequence position ids and one
KV cache (``DynamicCache``). Each turn of the loop the thread

1. admits waiting requests into a *prefill job* — by tokens, not by count: the job's
   padded prompt tokens stay within ``max_prefill_tokens`` (a longer prompt is prefilled
   alone, in chunks of that size, between decode steps), padding stays a bounded share
   of a job, and the batch's worst-case KV cache (every row running to its limit,
   padding included) stays within the KV-cache budget (measured from free GPU memory
   after warm-up, or set). While a batch decodes, arrivals are gathered so that one
   prefill pass serves several of them (none waits more than a few decode steps);
2. runs one prefill pass of the job; when its prompts are done it samples their first
   tokens and merges their cache rows into the batch;
3. runs one decode step for the batch and drops finished, cancelled or timed-out rows
   (their cache rows are removed and all-padding columns trimmed).

Failures stay where they happen: an exception in a prefill pass (out of memory included)
fails only that job's requests, the running batch carries on, and after an out-of-memory
error the allocator's cached memory is released. A device error that leaves the GPU
unusable (an illegal memory access, a device-side assert) is fatal: every request fails,
``ready`` and ``alive`` turn false and ``on_fatal`` is called (the service exits so that
Kubernetes restarts the pod).

Next tokens are chosen for the whole batch at once on the device
(:mod:`myretail_inference.sampling`); text is decoded incrementally and stop sequences are
searched in the new text only (:mod:`myretail_inference.detokenizer`). Events go back to
the caller through a *sink*: for asyncio callers :meth:`BatchingEngine.submit` installs
one that hands events to the caller's event loop with ``loop.call_soon_threadsafe``.

The HTTP layer only sees the narrow interface in :mod:`myretail_inference.engine_api`.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch

from myretail_inference.detokenizer import (
    IncrementalText,
    StopScanner,
    encode_prompt,
    held_back,
    visible_text,
)
from myretail_inference.engine_api import (
    EngineFailedError,
    EngineNotReadyError,
    EngineObserver,
    Event,
    Finished,
    FinishReason,
    ModelInfo,
    NullObserver,
    PromptTooLongError,
    QueueFullError,
    RequestHandle,
    SamplingParams,
    TextDelta,
    deliver,
)
from myretail_inference.sampling import RowSampling, new_seed
from myretail_inference.settings import InferenceSettings

logger = logging.getLogger(__name__)

DEFAULT_MAX_PREFILL_TOKENS = 2048
DEFAULT_CPU_KV_CACHE_TOKENS = 32768
# A prompt joins a prefill job only while padding stays at most this share of the job.
MAX_PREFILL_PADDING = 0.25
# While a batch is decoding, arrivals are gathered into fewer prefill passes: they are
# admitted once this share of the batch slots is waiting, or once the oldest has waited
# this many decode steps (text-generation-inference's max_waiting_tokens, in short).
ADMISSION_GROUP_SHARE = 0.25
ADMISSION_MAX_WAIT_STEPS = 4
# Messages in a CUDA error after which the device (the CUDA context) is unusable.
_FATAL_DEVICE_ERRORS = (
    "CUDA error",
    "device-side assert",
    "illegal memory access",
    "CUBLAS_STATUS_EXECUTION_FAILED",
    "CUBLAS_STATUS_INTERNAL_ERROR",
    "cuDNN error",
    "unspecified launch failure",
    "ECC error",
)


def engine_options(settings: InferenceSettings) -> dict[str, Any]:
    """The :class:`BatchingEngine` limits the service's settings name."""
    return {
        "max_batch_size": settings.max_batch_size,
        "max_queue_size": settings.max_queue_size,
        "request_timeout_seconds": settings.request_timeout_seconds,
        "max_prefill_tokens": settings.max_prefill_tokens,
        "kv_cache_tokens": settings.kv_cache_tokens,
        "gpu_memory_utilization": settings.gpu_memory_utilization,
    }


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()


def is_fatal_device_error(exc: BaseException) -> bool:
    """True for errors after which the GPU cannot be used again in this process."""
    if is_out_of_memory(exc):
        return False
    accelerator_error = getattr(torch, "AcceleratorError", None)
    if accelerator_error is not None and isinstance(exc, accelerator_error):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc) for m in _FATAL_DEVICE_ERRORS)


def exit_for_restart(reason: str, delay_seconds: float = 2.0) -> None:
    """``on_fatal`` of the service: exit soon so that Kubernetes restarts the pod.

    The short delay lets the failed requests' error answers (and a failing ``/readyz``)
    go out first.
    """
    logger.critical("the engine failed; exiting so the process restarts", extra={"reason": reason})
    timer = threading.Timer(delay_seconds, os._exit, args=(1,))
    timer.daemon = True
    timer.start()


def kv_cache_peak(rows: Iterable[tuple[int, int]]) -> int:
    """Most cache cells (rows x columns) a batch reaches if every row runs to its limit.

    ``rows`` are (tokens in the cache now, tokens it may still add). Rows are left-padded
    to the longest, and all-padding columns go when rows leave, so while ``n`` rows are
    alive the cache is ``n`` times the longest of them.
    """
    peak = longest = 0
    ordered = sorted(rows, key=lambda row: row[1], reverse=True)
    for count, (length, remaining) in enumerate(ordered, start=1):
        longest = max(longest, length)
        peak = max(peak, count * (longest + remaining))
    return peak


def kv_bytes_per_token(model: Any) -> int:
    """Bytes of KV cache one token takes in every layer (keys and values)."""
    config = model.config.get_text_config()
    heads = int(config.num_attention_heads)
    kv_heads = int(getattr(config, "num_key_value_heads", None) or heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // heads)
    itemsize = model.get_input_embeddings().weight.element_size()
    return 2 * int(config.num_hidden_layers) * kv_heads * head_dim * itemsize


def _left_pad(tensor: torch.Tensor, length: int, dim: int, value: float = 0) -> torch.Tensor:
    missing = length - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    pad = torch.full(shape, value, dtype=tensor.dtype, device=tensor.device)
    return torch.cat([pad, tensor], dim=dim)


class _Sequence:
    """Engine-thread state of one request (in a prefill job, then in the batch)."""

    def __init__(self, handle: RequestHandle, tokenizer: Any) -> None:
        self.handle = handle
        self.params = handle.params
        self.seed = new_seed(self.params.seed)
        self.cached = len(handle.prompt_ids)  # tokens in the KV cache
        self.text = IncrementalText(tokenizer)
        self.stops = StopScanner(self.params.stop)
        self.parts: list[str] = []  # every decoded piece
        self.pending = ""  # decoded, not shown yet
        self.sent: list[str] = []  # shown pieces
        self.first_token_at: float | None = None
        self.finished = False
        self.eos_hit = False

    @property
    def generated(self) -> list[int]:
        return self.text.ids

    def remaining(self, context_window: int) -> int:
        """Most tokens this row may still add to the cache."""
        left = self.params.max_new_tokens - len(self.generated)
        return max(0, min(left, context_window - self.cached))

    def sent_text(self) -> str:
        return "".join(self.sent)


class _PrefillJob:
    """Newly admitted requests whose prompts run together (a long one alone, in chunks)."""

    def __init__(self, rows: list[_Sequence], pad_id: int, chunk_tokens: int) -> None:
        self.rows = rows
        self.length = max(len(row.handle.prompt_ids) for row in rows)
        self.input_ids = torch.full((len(rows), self.length), pad_id, dtype=torch.long)
        self.mask = torch.zeros((len(rows), self.length), dtype=torch.long)
        for index, row in enumerate(rows):
            size = len(row.handle.prompt_ids)
            self.input_ids[index, self.length - size :] = torch.tensor(row.handle.prompt_ids)
            self.mask[index, self.length - size :] = 1
        self.positions = (self.mask.cumsum(-1) - 1).clamp(min=0)
        self.chunk = max(1, chunk_tokens // len(rows))
        self.done = 0  # prompt columns already run
        self.cache: Any = None


class BatchingEngine:
    """Continuous batching over a Hugging Face causal LM (see the module docstring)."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        info: ModelInfo,
        *,
        max_batch_size: int = 16,
        max_queue_size: int = 64,
        request_timeout_seconds: float = 120.0,
        max_prefill_tokens: int = DEFAULT_MAX_PREFILL_TOKENS,
        kv_cache_tokens: int = 0,
        gpu_memory_utilization: float = 0.9,
        observer: EngineObserver | None = None,
        on_fatal: Callable[[str], None] | None = None,
    ) -> None:
        if max_prefill_tokens < 1:
            raise ValueError("max_prefill_tokens must be at least 1")
        if kv_cache_tokens and kv_cache_tokens < info.context_window:
            raise ValueError(
                f"the KV-cache budget ({kv_cache_tokens} tokens) must hold one full context "
                f"window ({info.context_window} tokens)"
            )
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.max_batch_size = max_batch_size
        self.max_queue_size = max_queue_size
        self.request_timeout_seconds = request_timeout_seconds
        self.max_prefill_tokens = max_prefill_tokens
        self.gpu_memory_utilization = gpu_memory_utilization
        self.observer: EngineObserver = observer or NullObserver()
        self.on_fatal = on_fatal
        self.device = next(model.parameters()).device
        self.eos_ids = self._eos_ids(model, tokenizer)
        self._eos_tensor = torch.tensor(self.eos_ids, device=self.device)
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        )
        self.kv_bytes_per_token = kv_bytes_per_token(model)
        self._kv_setting = kv_cache_tokens
        self.kv_cache_tokens = kv_cache_tokens or (
            0 if self.device.type == "cuda" else DEFAULT_CPU_KV_CACHE_TOKENS
        )
        self.ready = False
        self.failure: str | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._waiting: deque[RequestHandle] = deque()
        self._active_count = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._job: _PrefillJob | None = None
        self._head_waiting_since: tuple[int, int] | None = None  # (request id, step)
        # The running batch (engine thread only).
        self._rows: list[_Sequence] = []
        self._cache: Any = None
        self._mask: torch.Tensor | None = None  # [batch, cache length], 1 = real token
        self._positions: torch.Tensor | None = None  # [batch] position id of the next token
        self._next_tokens: torch.Tensor | None = None  # [batch] last sampled token
        self._seen: torch.Tensor | None = None  # [batch, vocab] tokens seen (repetition)
        self._counters: torch.Tensor | None = None  # [batch] tokens generated (noise counter)
        self._sampling: RowSampling | None = None
        self.steps = 0
        self.out_of_memory_errors = 0
        # Events of the step in progress, handed over together (see _emit_tokens).
        self._outbox: list[tuple[RequestHandle, Event]] | None = None

    @staticmethod
    def _eos_ids(model: Any, tokenizer: Any) -> list[int]:
        ids: list[int] = []
        for source in (getattr(model, "generation_config", None), model.config, tokenizer):
            value = getattr(source, "eos_token_id", None)
            for item in value if isinstance(value, list | tuple) else [value]:
                if isinstance(item, int) and item not in ids:
                    ids.append(item)
        if not ids:
            raise ValueError("the tokenizer and model name no end-of-sequence token")
        return ids

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        """False once the engine can never serve again (its thread ended by a failure)."""
        thread = self._thread
        return self.failure is None and (thread is None or thread.is_alive())

    def start(self) -> BatchingEngine:
        if self.failure is not None:
            raise EngineFailedError(self.failure)
        if self._thread is None:
            if not self.kv_cache_tokens:
                self.kv_cache_tokens = self._measure_kv_budget()
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="inference-engine", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish every request as cancelled and stop the engine thread."""
        self.ready = False
        with self._wakeup:
            self._stopping = True
            self._wakeup.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def warmup(self, prompt: str = "Hello", max_new_tokens: int = 4) -> Finished:
        """Start (on a GPU: size the KV cache), run one short generation, report ready."""
        started = time.monotonic()
        self.start()
        result = self.generate_sync(
            self.encode(prompt), SamplingParams(max_new_tokens=max_new_tokens, ignore_eos=True)
        )
        if result.finish_reason not in ("stop", "length"):
            raise RuntimeError(f"warm-up generation failed: {result.error or result.finish_reason}")
        self.ready = True
        logger.info(
            "engine warmed up",
            extra={
                "seconds": round(time.monotonic() - started, 2),
                "model": self.info.name,
                "kv_cache_tokens": self.kv_cache_tokens,
                "max_prefill_tokens": self.max_prefill_tokens,
            },
        )
        return result

    def _measure_kv_budget(self) -> int:
        """KV-cache tokens that fit the GPU's free memory after one full-size prefill pass."""
        device = self.device
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        idle = torch.cuda.memory_allocated(device)
        tokens = max(1, min(self.max_prefill_tokens, self.info.context_window - 1))
        with torch.inference_mode():
            ids = torch.full((1, tokens), self.pad_id, dtype=torch.long, device=device)
            self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
        torch.cuda.synchronize(device)
        activations = torch.cuda.max_memory_allocated(device) - idle
        free, _ = torch.cuda.mem_get_info(device)
        reusable = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        usable = (free + reusable) * self.gpu_memory_utilization - activations
        budget = int(max(usable, 0) // self.kv_bytes_per_token)
        if self._kv_setting:
            budget = min(budget, self._kv_setting)
        logger.info(
            "kv-cache budget measured",
            extra={"tokens": budget, "free_bytes": free, "activation_bytes": activations},
        )
        if budget < self.info.context_window:
            raise RuntimeError(
                f"GPU memory left for the KV cache holds {budget} tokens, less than one "
                f"context window ({self.info.context_window}): lower MAX_PREFILL_TOKENS, "
                "use QUANTIZATION=nf4 or a larger GPU"
            )
        return budget

    def _wake(self) -> None:
        with self._wakeup:
            self._wakeup.notify_all()

    # -- submitting --------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        return encode_prompt(self.tokenizer, text)

    def check_prompt(self, prompt_ids: Sequence[int]) -> None:
        if len(prompt_ids) >= self.info.context_window:
            raise PromptTooLongError(len(prompt_ids), self.info.context_window)
        if not prompt_ids:
            raise ValueError("the prompt is empty")

    def _enqueue(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        setup: Callable[[RequestHandle], None],
    ) -> RequestHandle:
        self.check_prompt(prompt_ids)
        handle = RequestHandle(
            next(self._ids),
            list(prompt_ids),
            params,
            time.monotonic() + self.request_timeout_seconds,
            self._wake,
        )
        setup(handle)  # the sink is in place before the engine thread can see the request
        with self._wakeup:
            if self.failure is not None:
                self.observer.request_rejected("not_ready")
                raise EngineFailedError(f"the engine failed: {self.failure}")
            if self._stopping or self._thread is None:
                self.observer.request_rejected("not_ready")
                raise EngineNotReadyError("the engine is not running")
            free_slots = max(0, self.max_batch_size - self._active_count)
            if len(self._waiting) >= self.max_queue_size + free_slots:
                self.observer.request_rejected("queue_full")
                raise QueueFullError(
                    f"the server is at capacity ({self.max_batch_size} running, "
                    f"{len(self._waiting)} waiting); retry later"
                )
            self._waiting.append(handle)
            self.observer.request_submitted()
            self.observer.occupancy(len(self._waiting), self._active_count)
            self._wakeup.notify_all()
        return handle

    def submit(
        self, prompt_ids: list[int], params: SamplingParams, prompt_text: str | None = None
    ) -> RequestHandle:
        """Queue a request from a coroutine; raises at once when it cannot be taken.

        Raises :class:`PromptTooLongError`, :class:`QueueFullError` or
        :class:`EngineNotReadyError`; iterate ``handle.events()`` for the output.
        """
        loop = asyncio.get_running_loop()
        return self._enqueue(prompt_ids, params, lambda handle: handle._bind_loop(loop))

    def generate_sync(
        self, prompt_ids: list[int], params: SamplingParams, timeout: float | None = None
    ) -> Finished:
        """Generate from a plain thread (warm-up, scripts): blocks until done."""
        done = threading.Event()

        def setup(handle: RequestHandle) -> None:
            handle._sink = lambda event: done.set() if isinstance(event, Finished) else None

        handle = self._enqueue(prompt_ids, params, setup)
        if not done.wait(timeout):
            handle.cancel()
            done.wait(30)
        if handle.finished is None:
            raise RuntimeError("the engine did not finish the request")
        return handle.finished

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "queue_depth": len(self._waiting),
                "active": self._active_count,
                "steps": self.steps,
                "kv_cache_tokens": self.kv_cache_tokens,
                "out_of_memory_errors": self.out_of_memory_errors,
            }

    # -- the engine thread ---------------------------------------------------------------

    def _run(self) -> None:
        logger.info(
            "engine started",
            extra={"max_batch_size": self.max_batch_size, "max_queue_size": self.max_queue_size},
        )
        try:
            with torch.inference_mode():
                while self.failure is None:
                    admitted = self._take_waiting()
                    if admitted is None:
                        break
                    self._drop_expired()
                    if admitted:
                        self._job = _PrefillJob(
                            [_Sequence(handle, self.tokenizer) for handle in admitted],
                            self.pad_id,
                            self.max_prefill_tokens,
                        )
                    if self._job is not None:
                        self._guarded(self._prefill_step, "prefill")
                    if self._rows and self.failure is None:
                        self._guarded(self._decode_step, "decode")
                    self._publish_occupancy()
        except BaseException as exc:  # a bug in the loop itself: nothing can be served
            logger.exception("the engine thread died")
            self._fail(f"the engine thread died: {type(exc).__name__}: {exc}")
        finally:
            # The hook first (the service schedules its exit), then every request fails.
            if self.failure is not None and self.on_fatal is not None:
                try:
                    self.on_fatal(self.failure)
                except Exception:
                    logger.exception("the engine's on_fatal hook failed")
            self._shutdown()

    def _guarded(self, step: Callable[[], None], kind: str) -> None:
        """Run one step; a failure fails only the requests that step served."""
        try:
            step()
        except Exception as exc:
            if is_fatal_device_error(exc):
                logger.exception("fatal device error")
                self._fail(f"device error during {kind}: {type(exc).__name__}: {exc}")
                return
            message = f"generation failed: {type(exc).__name__}"
            if is_out_of_memory(exc):
                message = "generation failed: out of memory; retry, or send a shorter request"
                self.out_of_memory_errors += 1
            logger.exception(f"{kind} failed", extra={"error": type(exc).__name__})
            if kind == "prefill" and self._job is not None:
                for row in self._job.rows:
                    self._finish(row, "error", error=message)
                self._job = None
            else:
                for row in self._rows:
                    self._finish(row, "error", error=message)
                self._reset_batch()
            if is_out_of_memory(exc):
                self._release_cached_memory()

    def _release_cached_memory(self) -> None:
        """After an out-of-memory error: give the allocator's cached blocks back."""
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _fail(self, reason: str) -> None:
        """The engine can never serve again: stop taking requests; the loop ends."""
        self.ready = False
        with self._wakeup:
            if self.failure is None:
                self.failure = reason
            self._wakeup.notify_all()

    def _take_waiting(self) -> list[RequestHandle] | None:
        """Requests admitted into a new prefill job; sleeps while there is nothing to do."""
        with self._wakeup:
            while not (self._stopping or self._rows or self._waiting or self._job):
                self._wakeup.wait(timeout=1.0)
            if self._stopping:
                return None
            now = time.monotonic()
            live: deque[RequestHandle] = deque()
            for handle in self._waiting:
                if handle.cancelled:
                    self._finish_unstarted(handle, "cancelled")
                elif now > handle.deadline:
                    self._finish_unstarted(handle, "timeout")
                else:
                    live.append(handle)
            admitted = self._admit(live) if self._job is None else []
            for _ in admitted:
                live.popleft()
            self._waiting = live
            job_rows = len(self._job.rows) if self._job else 0
            self._active_count = len(self._rows) + job_rows + len(admitted)
            return admitted

    def _admission_due(self, waiting: Sequence[RequestHandle]) -> bool:
        """Whether to start a prefill job now (see ``ADMISSION_GROUP_SHARE``)."""
        if not waiting:
            return False
        head = waiting[0].request_id
        if self._head_waiting_since is None or self._head_waiting_since[0] != head:
            self._head_waiting_since = (head, self.steps)
        if not self._rows:
            return True
        free = self.max_batch_size - len(self._rows)
        enough = max(1, int(self.max_batch_size * ADMISSION_GROUP_SHARE))
        waited = self.steps - self._head_waiting_since[1]
        return min(free, len(waiting)) >= enough or waited >= ADMISSION_MAX_WAIT_STEPS

    def _admit(self, waiting: Sequence[RequestHandle]) -> list[RequestHandle]:
        """The longest run of waiting requests (in order) that fits every budget."""
        if not self._admission_due(waiting):
            return []
        running = [(row.cached, row.remaining(self.info.context_window)) for row in self._rows]
        admitted: list[RequestHandle] = []
        longest = real = 0
        for handle in waiting:
            if len(self._rows) + len(admitted) >= self.max_batch_size:
                break
            size = len(handle.prompt_ids)
            padded = (len(admitted) + 1) * max(longest, size)
            if admitted and (
                padded > self.max_prefill_tokens
                or padded - (real + size) > padded * MAX_PREFILL_PADDING
            ):
                break
            needs = min(handle.params.max_new_tokens, self.info.context_window - size)
            running.append((size, needs))
            if kv_cache_peak(running) > self.kv_cache_tokens:
                break
            admitted.append(handle)
            longest, real = max(longest, size), real + size
        return admitted

    def _publish_occupancy(self) -> None:
        with self._lock:
            job_rows = len(self._job.rows) if self._job else 0
            self._active_count = len(self._rows) + job_rows
            self.observer.occupancy(len(self._waiting), self._active_count)
        if self.kv_cache_tokens:
            self.observer.kv_cache_usage(min(1.0, self._kv_reserved() / self.kv_cache_tokens))

    def _kv_reserved(self) -> int:
        """KV-cache cells the running batch and the prefill job may reach (what admission
        holds against the budget)."""
        context = self.info.context_window
        rows = [*self._rows, *(self._job.rows if self._job else [])]
        return kv_cache_peak((row.cached, row.remaining(context)) for row in rows)

    def _finish_unstarted(
        self, handle: RequestHandle, reason: FinishReason, error: str | None = None
    ) -> None:
        finished = Finished("", reason, len(handle.prompt_ids), 0, None, error)
        handle._emit(finished)
        self.observer.request_finished(finished, time.monotonic() - handle.submitted_at)

    def _shutdown(self) -> None:
        reason: FinishReason = "error" if self.failure else "cancelled"
        error = f"the engine failed: {self.failure}" if self.failure else None
        job_rows = self._job.rows if self._job else []
        for row in [*self._rows, *job_rows]:
            self._finish(row, reason, error=error)
        self._job = None
        self._reset_batch()
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
            self._active_count = 0
        for handle in waiting:
            self._finish_unstarted(handle, reason, error)
        logger.info("engine stopped", extra={"failure": self.failure})

    def _reset_batch(self) -> None:
        self._rows = []
        self._cache = self._mask = self._positions = self._sampling = None
        self._next_tokens = self._seen = self._counters = None

    # -- forward passes ------------------------------------------------------------------

    def _prefill_step(self) -> None:
        """One prefill pass of the job; at its last chunk, first tokens and the merge."""
        from transformers import DynamicCache

        job = self._job
        assert job is not None
        if job.cache is None:
            job.cache = DynamicCache(config=self.model.config)
        start, end = job.done, min(job.done + job.chunk, job.length)
        device = self.device
        started = time.perf_counter()
        output = self.model(
            input_ids=job.input_ids[:, start:end].to(device),
            attention_mask=job.mask[:, :end].to(device),
            position_ids=job.positions[:, start:end].to(device),
            past_key_values=job.cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.observer.forward_pass("prefill", len(job.rows), time.perf_counter() - started)
        job.done = end
        if end < job.length:
            return
        logits = output.logits[:, -1, :].float()
        input_ids, mask = job.input_ids.to(device), job.mask.to(device)
        seen = torch.zeros(logits.shape, dtype=torch.bool, device=device)
        # Padding columns repeat the row's last (real) token, so only prompt tokens count.
        seen.scatter_(1, torch.where(mask.bool(), input_ids, input_ids[:, -1:]), True)
        sampling = RowSampling.build(
            [row.params for row in job.rows], [row.seed for row in job.rows], device
        )
        counters = torch.zeros(len(job.rows), dtype=torch.long, device=device)
        tokens = sampling.choose(logits, counters, seen, self._eos_tensor)
        seen[torch.arange(len(job.rows), device=device), tokens] = True
        self._merge(job, output.past_key_values, mask, seen, sampling, tokens)
        self._job = None
        self._emit_tokens(job.rows, tokens)

    def _decode_step(self) -> None:
        assert self._mask is not None and self._positions is not None
        assert self._next_tokens is not None and self._sampling is not None
        assert self._seen is not None and self._counters is not None
        batch = len(self._rows)
        mask = torch.cat(
            [self._mask, torch.ones((batch, 1), dtype=self._mask.dtype, device=self.device)], 1
        )
        started = time.perf_counter()
        output = self.model(
            input_ids=self._next_tokens[:, None],
            attention_mask=mask,
            position_ids=self._positions[:, None],
            past_key_values=self._cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.observer.forward_pass("decode", batch, time.perf_counter() - started)
        self.steps += 1
        self._mask, self._cache = mask, output.past_key_values
        self._positions = self._positions + 1
        for row in self._rows:
            row.cached += 1
        tokens = self._sampling.choose(
            output.logits[:, -1, :].float(), self._counters, self._seen, self._eos_tensor
        )
        self._seen[torch.arange(batch, device=self.device), tokens] = True
        self._counters = self._counters + 1
        self._next_tokens = tokens
        self._emit_tokens(self._rows, tokens)

    def _merge(
        self,
        job: _PrefillJob,
        cache: Any,
        mask: torch.Tensor,
        seen: torch.Tensor,
        sampling: RowSampling,
        tokens: torch.Tensor,
    ) -> None:
        """Append the job's rows to the running batch, left-padded.

        Everything is built before anything is assigned, so an error here (out of memory)
        leaves the running batch as it was.
        """
        positions = mask.sum(-1)
        counters = torch.ones(len(job.rows), dtype=torch.long, device=self.device)
        if not self._rows:
            self._rows, self._cache, self._mask = list(job.rows), cache, mask
            self._positions, self._seen, self._sampling = positions, seen, sampling
            self._next_tokens, self._counters = tokens, counters
            return
        assert self._mask is not None and self._positions is not None
        assert self._seen is not None and self._sampling is not None
        assert self._next_tokens is not None and self._counters is not None
        length = max(self._mask.shape[1], mask.shape[1])
        merged = [
            (
                torch.cat([_left_pad(old.keys, length, 2), _left_pad(new.keys, length, 2)]),
                torch.cat([_left_pad(old.values, length, 2), _left_pad(new.values, length, 2)]),
            )
            for old, new in zip(self._cache.layers, cache.layers, strict=True)
        ]
        merged_mask = torch.cat([_left_pad(self._mask, length, 1), _left_pad(mask, length, 1)])
        merged_seen = torch.cat([self._seen, seen])
        merged_positions = torch.cat([self._positions, positions])
        merged_sampling = self._sampling.cat(sampling)
        merged_tokens = torch.cat([self._next_tokens, tokens])
        merged_counters = torch.cat([self._counters, counters])
        for layer, (keys, values) in zip(self._cache.layers, merged, strict=True):
            layer.keys, layer.values = keys, values
        self._mask, self._seen, self._positions = merged_mask, merged_seen, merged_positions
        self._sampling, self._next_tokens = merged_sampling, merged_tokens
        self._counters = merged_counters
        self._rows = self._rows + job.rows

    def _drop_expired(self) -> None:
        now = time.monotonic()
        job_rows = self._job.rows if self._job else []
        for row in [*self._rows, *job_rows]:
            if row.handle.cancelled:
                self._finish(row, "cancelled")
            elif now > row.handle.deadline:
                self._finish(row, "timeout")
        if self._job is not None and all(row.finished for row in self._job.rows):
            self._job = None
        self._compact()

    def _compact(self) -> None:
        """Remove finished rows from the batch and trim all-padding cache columns."""
        keep = [index for index, row in enumerate(self._rows) if not row.finished]
        if len(keep) == len(self._rows):
            return
        if not keep:
            self._reset_batch()
            return
        assert self._mask is not None and self._positions is not None
        assert self._seen is not None and self._sampling is not None
        assert self._next_tokens is not None and self._counters is not None
        rows = [self._rows[i] for i in keep]
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        first = self._mask.shape[1] - max(row.cached for row in rows)
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, first:]
            layer.values = layer.values[index, :, first:]
        self._mask = self._mask[index, first:]
        self._positions = self._positions[index]
        self._seen = self._seen[index]
        self._sampling = self._sampling.select(index, [row.params for row in rows])
        self._next_tokens = self._next_tokens[index]
        self._counters = self._counters[index]
        self._rows = rows

    # -- tokens and text -----------------------------------------------------------------

    def _emit_tokens(self, rows: list[_Sequence], tokens: torch.Tensor) -> None:
        """Hand each row its new token (one host copy for the whole batch); the rows'
        events go out together at the end."""
        now = time.monotonic()
        self._outbox = []
        try:
            for row, token in zip(rows, tokens.tolist(), strict=True):
                if row.finished:
                    continue
                if row.first_token_at is None:
                    row.first_token_at = now
                    self.observer.first_token(now - row.handle.submitted_at)
                self._advance(row, token)
        finally:
            outbox, self._outbox = self._outbox, None
            deliver(outbox)
        self._compact()

    def _send(self, handle: RequestHandle, event: Event) -> None:
        if self._outbox is None:
            handle._emit(event)
        else:
            self._outbox.append((handle, event))

    def _advance(self, row: _Sequence, token: int) -> None:
        """Add one sampled token to ``row``; emit text; finish when a stop rule fires."""
        params = row.params
        if token in self.eos_ids and not params.ignore_eos:
            row.eos_hit = True
            self._finish(row, "stop")
            return
        piece = row.text.add(token)
        row.parts.append(piece)
        cut = row.stops.feed(piece)
        if cut is not None:
            self._finish(row, "stop", cut=cut)
            return
        if len(row.generated) >= params.max_new_tokens or (
            row.cached + 1 >= self.info.context_window
        ):
            self._finish(row, "length")
            return
        row.pending += piece
        self._show(row)

    def _show(self, row: _Sequence) -> None:
        """Stream the part of the unsent text that can no longer change."""
        text = row.pending
        if row.params.trim_whitespace and not row.sent:
            text = text.lstrip()  # an answer never starts with whitespace
        shown = len(text) - held_back(text, row.params)
        if shown > 0:
            row.sent.append(text[:shown])
            self._send(row.handle, TextDelta(text[:shown]))
        row.pending = text[shown:] if shown > 0 else text

    def _finish(
        self,
        row: _Sequence,
        reason: FinishReason,
        error: str | None = None,
        cut: int | None = None,
    ) -> None:
        if row.finished:
            return
        row.finished = True
        sent = row.sent_text()
        final = sent
        if reason in ("stop", "length"):
            row.parts.append(row.text.flush())
            text = "".join(row.parts)
            answer = visible_text(text[:cut] if cut is not None else text, row.params, True)
            if answer.startswith(sent):  # never take back streamed text
                final = answer
                if len(answer) > len(sent):
                    self._send(row.handle, TextDelta(answer[len(sent) :]))
        finished = Finished(
            text=final,
            finish_reason=reason,
            prompt_tokens=len(row.handle.prompt_ids),
            completion_tokens=len(row.generated) + (1 if row.eos_hit else 0),
            time_to_first_token=(
                row.first_token_at - row.handle.submitted_at if row.first_token_at else None
            ),
            error=error,
        )
        self._send(row.handle, finished)
        self.observer.request_finished(finished, time.monotonic() - row.handle.submitted_at)
