"""The continuous-batching generation engine.

One background thread owns the model and runs every forward pass. Running sequences
share one left-padded batch with an attention mask, per-sequence position ids and one
KV cache (``DynamicCache``). Between decode steps the thread admits waiting requests
(their prompts are prefilled together, then their cache rows are merged into the
batch) and drops finished, cancelled or timed-out ones (their cache rows are removed
and all-padding columns trimmed). Every sequence samples with its own parameters
(temperature, top-p, seed, repetition penalty); temperature 0 is greedy.

Text goes back to the caller as events through a *sink*: for asyncio callers
:meth:`BatchingEngine.submit` installs one that hands events to the caller's event
loop with ``loop.call_soon_threadsafe``, so the event loop never waits for the model.

The HTTP layer only sees the narrow interface in :mod:`myretail_inference.engine_api`
(``submit`` / ``encode`` / ``info`` / ``ready`` and :class:`RequestHandle`), so the
scheduler can change without touching the API.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import torch

from myretail_inference.engine_api import (
    EngineNotReadyError,
    EngineObserver,
    Finished,
    FinishReason,
    ModelInfo,
    NullObserver,
    PromptTooLongError,
    QueueFullError,
    RequestHandle,
    SamplingParams,
    TextDelta,
)

logger = logging.getLogger(__name__)


class _Sequence:
    """Engine-thread state of one request in the running batch."""

    def __init__(self, handle: RequestHandle) -> None:
        self.handle = handle
        self.params = handle.params
        self.generated: list[int] = []
        self.sent_text = ""
        self.first_token_at: float | None = None
        self.finished = False
        self.eos_hit = False
        self.generator: torch.Generator | None = None
        if self.params.temperature > 0:
            self.generator = torch.Generator()
            if self.params.seed is not None:
                self.generator.manual_seed(self.params.seed)
            else:
                self.generator.seed()
        self.seen_ids = sorted(set(handle.prompt_ids))


def _stop_prefix_hold(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could start a stop sequence."""
    hold = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:size]):
                hold = size
                break
    return hold


def visible_text(text: str, params: SamplingParams, final: bool) -> str:
    """The part of the decoded text that may be shown now (stream and final alike)."""
    if params.trim_whitespace:
        text = text.lstrip()
    if not final:
        text = text.rstrip("\ufffd")  # an incomplete UTF-8 character waits for its bytes
        hold = _stop_prefix_hold(text, params.stop)
        if hold:
            text = text[:-hold]
    if params.trim_whitespace:
        text = text.rstrip()
    return text


def _left_pad(tensor: torch.Tensor, length: int, dim: int, value: float = 0) -> torch.Tensor:
    missing = length - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    pad = torch.full(shape, value, dtype=tensor.dtype, device=tensor.device)
    return torch.cat([pad, tensor], dim=dim)


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
        observer: EngineObserver | None = None,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.info = info
        self.max_batch_size = max_batch_size
        self.max_queue_size = max_queue_size
        self.request_timeout_seconds = request_timeout_seconds
        self.observer: EngineObserver = observer or NullObserver()
        self.device = next(model.parameters()).device
        self.eos_ids = self._eos_ids(model, tokenizer)
        self.pad_id = (
            tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        )
        self.vocab_size = int(model.config.get_text_config().vocab_size)
        self.ready = False
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._waiting: deque[RequestHandle] = deque()
        self._active_count = 0
        self._stopping = False
        self._thread: threading.Thread | None = None
        # The running batch (engine thread only).
        self._rows: list[_Sequence] = []
        self._cache: Any = None
        self._mask: torch.Tensor | None = None  # [batch, cache length], 1 = real token
        self._positions: torch.Tensor | None = None  # [batch] position id of the next token
        self._next_tokens: torch.Tensor | None = None  # [batch] last sampled token
        self._seen: torch.Tensor | None = None  # [batch, vocab] tokens seen (repetition)
        self._penalties: torch.Tensor | None = None  # [batch, 1]
        self.steps = 0

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

    def start(self) -> BatchingEngine:
        if self._thread is None:
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
        """Run one short generation end to end, then report ready."""
        self.start()
        started = time.monotonic()
        result = self.generate_sync(
            self.encode(prompt), SamplingParams(max_new_tokens=max_new_tokens, ignore_eos=True)
        )
        if result.finish_reason not in ("stop", "length"):
            raise RuntimeError(f"warm-up generation failed: {result.error or result.finish_reason}")
        self.ready = True
        logger.info(
            "engine warmed up",
            extra={"seconds": round(time.monotonic() - started, 2), "model": self.info.name},
        )
        return result

    def _wake(self) -> None:
        with self._wakeup:
            self._wakeup.notify_all()

    # -- submitting --------------------------------------------------------------------

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"]
        return ids

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

    def submit(self, prompt_ids: list[int], params: SamplingParams) -> RequestHandle:
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
            }

    # -- the engine thread ---------------------------------------------------------------

    def _run(self) -> None:
        logger.info(
            "engine started",
            extra={"max_batch_size": self.max_batch_size, "max_queue_size": self.max_queue_size},
        )
        try:
            with torch.inference_mode():
                while True:
                    admitted = self._take_waiting()
                    if admitted is None:
                        break
                    try:
                        self._drop_expired()
                        if admitted:
                            self._prefill(admitted)
                        if self._rows:
                            self._decode_step()
                    except Exception as exc:  # a failed step fails its requests, not the server
                        logger.exception("generation step failed")
                        self._fail_all(exc, admitted)
                    self._publish_occupancy()
        finally:
            self._shutdown()

    def _take_waiting(self) -> list[RequestHandle] | None:
        """Waiting requests that fit in the batch; sleeps while there is nothing to do."""
        with self._wakeup:
            while not self._stopping and not self._rows and not self._waiting:
                self._wakeup.wait(timeout=1.0)
            if self._stopping:
                return None
            now = time.monotonic()
            admitted: list[RequestHandle] = []
            kept: deque[RequestHandle] = deque()
            for handle in self._waiting:
                if handle.cancelled:
                    self._finish_unstarted(handle, "cancelled")
                elif now > handle.deadline:
                    self._finish_unstarted(handle, "timeout")
                elif len(self._rows) + len(admitted) < self.max_batch_size:
                    admitted.append(handle)
                else:
                    kept.append(handle)
            self._waiting = kept
            self._active_count = len(self._rows) + len(admitted)
            return admitted

    def _publish_occupancy(self) -> None:
        with self._lock:
            self._active_count = len(self._rows)
            self.observer.occupancy(len(self._waiting), self._active_count)

    def _finish_unstarted(self, handle: RequestHandle, reason: FinishReason) -> None:
        finished = Finished("", reason, len(handle.prompt_ids), 0, None)
        handle._emit(finished)
        self.observer.request_finished(finished, time.monotonic() - handle.submitted_at)

    def _fail_all(self, exc: Exception, admitted: list[RequestHandle]) -> None:
        message = f"generation failed: {type(exc).__name__}"
        rows = {id(row.handle) for row in self._rows}
        for row in self._rows:
            self._finish(row, "error", row.sent_text, error=message)
        for handle in admitted:
            if id(handle) not in rows and handle.finished is None:
                finished = Finished("", "error", len(handle.prompt_ids), 0, None, message)
                handle._emit(finished)
                self.observer.request_finished(finished, time.monotonic() - handle.submitted_at)
        self._reset_batch()

    def _shutdown(self) -> None:
        for row in self._rows:
            self._finish(row, "cancelled", row.sent_text)
        self._reset_batch()
        with self._lock:
            waiting, self._waiting = list(self._waiting), deque()
            self._active_count = 0
        for handle in waiting:
            self._finish_unstarted(handle, "cancelled")
        logger.info("engine stopped")

    def _reset_batch(self) -> None:
        self._rows = []
        self._cache = self._mask = self._positions = None
        self._next_tokens = self._seen = self._penalties = None

    # -- forward passes ------------------------------------------------------------------

    def _prefill(self, handles: list[RequestHandle]) -> None:
        """Run the prompts of newly admitted requests and merge them into the batch."""
        from transformers import DynamicCache

        rows = [_Sequence(handle) for handle in handles]
        length = max(len(handle.prompt_ids) for handle in handles)
        input_ids = torch.full((len(rows), length), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), length), dtype=torch.long)
        for index, handle in enumerate(handles):
            size = len(handle.prompt_ids)
            input_ids[index, length - size :] = torch.tensor(handle.prompt_ids)
            mask[index, length - size :] = 1
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        cache = DynamicCache(config=self.model.config)
        started = time.perf_counter()
        output = self.model(
            input_ids=input_ids.to(self.device),
            attention_mask=mask.to(self.device),
            position_ids=positions.to(self.device),
            past_key_values=cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.observer.forward_pass("prefill", len(rows), time.perf_counter() - started)
        seen = torch.zeros((len(rows), self.vocab_size), dtype=torch.bool, device=self.device)
        for index, row in enumerate(rows):
            seen[index, torch.tensor(row.seen_ids, device=self.device)] = True
        penalties = torch.tensor(
            [[row.params.repetition_penalty] for row in rows], device=self.device
        )
        self._merge(
            rows,
            output.past_key_values,
            mask.to(self.device),
            mask.sum(-1).to(self.device),
            seen,
            penalties,
        )
        new = slice(len(self._rows) - len(rows), len(self._rows))
        self._sample_and_emit(output.logits[:, -1, :].float(), new)

    def _decode_step(self) -> None:
        assert self._mask is not None and self._positions is not None
        assert self._next_tokens is not None
        batch = len(self._rows)
        self._mask = torch.cat(
            [self._mask, torch.ones((batch, 1), dtype=self._mask.dtype, device=self.device)], 1
        )
        started = time.perf_counter()
        output = self.model(
            input_ids=self._next_tokens[:, None],
            attention_mask=self._mask,
            position_ids=self._positions[:, None],
            past_key_values=self._cache,
            use_cache=True,
            logits_to_keep=1,
        )
        self.observer.forward_pass("decode", batch, time.perf_counter() - started)
        self.steps += 1
        self._cache = output.past_key_values
        self._positions = self._positions + 1
        self._sample_and_emit(output.logits[:, -1, :].float(), slice(0, batch))

    def _merge(
        self,
        rows: list[_Sequence],
        cache: Any,
        mask: torch.Tensor,
        positions: torch.Tensor,
        seen: torch.Tensor,
        penalties: torch.Tensor,
    ) -> None:
        """Append new rows (cache, mask, positions) to the running batch, left-padded."""
        next_tokens = torch.full((len(rows),), self.pad_id, dtype=torch.long, device=self.device)
        if not self._rows:
            self._rows, self._cache, self._mask = rows, cache, mask
            self._positions, self._seen, self._penalties = positions, seen, penalties
            self._next_tokens = next_tokens
            return
        assert self._mask is not None and self._positions is not None
        assert self._seen is not None and self._penalties is not None
        assert self._next_tokens is not None
        length = max(self._mask.shape[1], mask.shape[1])
        for old_layer, new_layer in zip(self._cache.layers, cache.layers, strict=True):
            old_layer.keys = torch.cat(
                [_left_pad(old_layer.keys, length, 2), _left_pad(new_layer.keys, length, 2)]
            )
            old_layer.values = torch.cat(
                [_left_pad(old_layer.values, length, 2), _left_pad(new_layer.values, length, 2)]
            )
        self._mask = torch.cat([_left_pad(self._mask, length, 1), _left_pad(mask, length, 1)])
        self._positions = torch.cat([self._positions, positions])
        self._seen = torch.cat([self._seen, seen])
        self._penalties = torch.cat([self._penalties, penalties])
        self._next_tokens = torch.cat([self._next_tokens, next_tokens])
        self._rows = self._rows + rows

    def _drop_expired(self) -> None:
        now = time.monotonic()
        for row in self._rows:
            if row.handle.cancelled:
                self._finish(row, "cancelled", row.sent_text)
            elif now > row.handle.deadline:
                self._finish(row, "timeout", row.sent_text)
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
        assert self._seen is not None and self._penalties is not None
        assert self._next_tokens is not None
        index = torch.tensor(keep, dtype=torch.long, device=self.device)
        mask = self._mask[index]
        first = int((mask.sum(0) > 0).nonzero()[0])
        for layer in self._cache.layers:
            layer.keys = layer.keys[index, :, first:]
            layer.values = layer.values[index, :, first:]
        self._mask = mask[:, first:]
        self._positions = self._positions[index]
        self._seen = self._seen[index]
        self._penalties = self._penalties[index]
        self._next_tokens = self._next_tokens[index]
        self._rows = [self._rows[i] for i in keep]

    # -- sampling and text ---------------------------------------------------------------

    def _sample_and_emit(self, logits: torch.Tensor, rows: slice) -> None:
        assert self._seen is not None and self._penalties is not None
        assert self._next_tokens is not None and self._positions is not None
        sequences = self._rows[rows]
        penalties = self._penalties[rows]
        if bool((penalties != 1.0).any()):
            penalized = torch.where(logits < 0, logits * penalties, logits / penalties)
            logits = torch.where(self._seen[rows], penalized, logits)
        for offset, row in enumerate(sequences):
            if row.params.ignore_eos:
                logits[offset, self.eos_ids] = float("-inf")
        tokens = logits.argmax(dim=-1)
        for offset, row in enumerate(sequences):
            if row.generator is not None:
                tokens[offset] = self._sample_one(logits[offset], row)
        self._next_tokens[rows] = tokens
        token_list = tokens.tolist()
        now = time.monotonic()
        for offset, row in enumerate(sequences):
            index = rows.start + offset
            token = token_list[offset]
            self._seen[index, token] = True
            if row.first_token_at is None:
                row.first_token_at = now
                self.observer.first_token(now - row.handle.submitted_at)
            self._advance(row, token, int(self._positions[index]) + 1)
        self._compact()

    @staticmethod
    def _sample_one(logits: torch.Tensor, row: _Sequence) -> int:
        """Sample with temperature and top-p, numerically safe for any valid setting."""
        # On the CPU in float64: per-request generators are CPU generators.
        logits = torch.nan_to_num(logits.double().cpu(), nan=float("-inf"), posinf=1e300)
        # Shifted first, so a tiny temperature sends every other token to -inf, never NaN.
        scaled = (logits - logits.max()) / row.params.temperature
        if row.params.top_p < 1.0:
            ordered, order = torch.sort(scaled, descending=True)
            probabilities = ordered.softmax(-1)
            # Keep the smallest set whose probability reaches top_p (always the best one).
            drop = probabilities.cumsum(-1) - probabilities >= row.params.top_p
            ordered[drop] = float("-inf")
            scaled = torch.full_like(scaled, float("-inf")).scatter(0, order, ordered)
        probabilities = scaled.softmax(-1)
        if not bool(torch.isfinite(probabilities).all()) or float(probabilities.sum()) <= 0:
            return int(logits.argmax())
        return int(torch.multinomial(probabilities, 1, generator=row.generator))

    def _advance(self, row: _Sequence, token: int, length_after: int) -> None:
        """Add one sampled token to ``row``; emit text; finish when a stop rule fires."""
        params = row.params
        if token in self.eos_ids and not params.ignore_eos:
            row.eos_hit = True
            self._finish(row, "stop", self._decode(row))
            return
        row.generated.append(token)
        text = self._decode(row)
        cut = min((p for p in (text.find(stop) for stop in params.stop) if p != -1), default=-1)
        if cut != -1:
            self._finish(row, "stop", text[:cut])
            return
        if len(row.generated) >= params.max_new_tokens or length_after >= self.info.context_window:
            self._finish(row, "length", text)
            return
        shown = visible_text(text, params, final=False)
        if len(shown) > len(row.sent_text) and shown.startswith(row.sent_text):
            row.handle._emit(TextDelta(shown[len(row.sent_text) :]))
            row.sent_text = shown

    def _decode(self, row: _Sequence) -> str:
        text: str = self.tokenizer.decode(row.generated, skip_special_tokens=True)
        return text

    def _finish(
        self, row: _Sequence, reason: FinishReason, text: str, error: str | None = None
    ) -> None:
        if row.finished:
            return
        row.finished = True
        if reason in ("stop", "length"):
            final = visible_text(text, row.params, final=True)
            if len(final) > len(row.sent_text) and final.startswith(row.sent_text):
                row.handle._emit(TextDelta(final[len(row.sent_text) :]))
            elif not final.startswith(row.sent_text):  # never take back streamed text
                final = row.sent_text
        else:
            final = row.sent_text
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
        row.handle._emit(finished)
        self.observer.request_finished(finished, time.monotonic() - row.handle.submitted_at)
