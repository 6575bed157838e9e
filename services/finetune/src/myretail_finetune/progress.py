"""Progress output: one line per logging step, JSON-lines metrics, a final summary.

Lines go through the ``myretail_finetune.progress`` logger, so with ``LOG_FORMAT=json``
each is one JSON object carrying the numbers as fields, and with ``LOG_FORMAT=text`` a
readable line such as ``step 40/240 (17%) loss 1.2345 lr 1.9e-03 tokens/s 5,210 ETA 0:38``.
When ``metrics_file`` is set every metric record is also appended there as JSON lines.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

logger = logging.getLogger("myretail_finetune.progress")


def format_duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class MetricsSink:
    """Logs metric records and appends them to a JSON-lines file when configured."""

    def __init__(self, path: str | Path | None, quiet: bool = False) -> None:
        self.path = Path(path) if path else None
        # Quiet on every training process but the first, which reports for all of them.
        self.quiet = quiet
        if self.path and not quiet:
            self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, event: str, message: str, **fields: Any) -> None:
        if self.quiet:
            return
        record = {"event": event, "time": round(time.time(), 3), **fields}
        logger.info(message, extra={"event": event, **fields})
        if self.path:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record, default=str) + "\n")


class ProgressCallback(TrainerCallback):
    """A progress line per logging step: step/total, loss, learning rate, tokens/s, ETA."""

    def __init__(self, sink: MetricsSink) -> None:
        self.sink = sink
        self.started = time.monotonic()
        self.start_step = 0
        self.start_tokens = 0
        self.train_seconds = 0.0
        self.tokens = 0
        self.last_loss: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.started = time.monotonic()
        self.start_step = state.global_step
        self.start_tokens = int(state.num_input_tokens_seen or 0)
        if self.start_step:
            self.sink.write(
                "resume",
                f"resuming at step {self.start_step}/{state.max_steps}",
                step=self.start_step,
                total_steps=state.max_steps,
            )
        return control

    def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kwargs: Any) -> Any:
        logs = logs or {}
        if "loss" not in logs:
            return control
        elapsed = time.monotonic() - self.started
        done = state.global_step - self.start_step
        tokens = int(state.num_input_tokens_seen or 0) - self.start_tokens
        tokens_per_second = tokens / elapsed if elapsed > 0 else 0.0
        remaining = max(0, state.max_steps - state.global_step)
        eta = elapsed / done * remaining if done > 0 else 0.0
        loss = float(logs["loss"])
        self.last_loss = loss
        percent = 100 * state.global_step / state.max_steps if state.max_steps else 0
        learning_rate = float(logs.get("learning_rate", 0.0))
        self.sink.write(
            "train",
            f"step {state.global_step}/{state.max_steps} ({percent:.0f}%) loss {loss:.4f} "
            f"lr {learning_rate:.1e} tokens/s {tokens_per_second:,.0f} "
            f"ETA {format_duration(eta)}",
            step=state.global_step,
            total_steps=state.max_steps,
            loss=round(loss, 6),
            learning_rate=learning_rate,
            tokens_per_second=round(tokens_per_second, 1),
            eta_seconds=round(eta, 1),
            epoch=round(float(state.epoch or 0), 3),
        )
        return control

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        self.train_seconds = time.monotonic() - self.started
        self.tokens = int(state.num_input_tokens_seen or 0) - self.start_tokens
        return control
