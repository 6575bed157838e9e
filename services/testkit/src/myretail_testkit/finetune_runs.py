"""Short fine-tune Jobs run as subprocesses, for the kill-and-resume tests.

:func:`short_job_values` are the settings of a run of a few dozen steps on the tiny base
(a checkpoint every 10 steps, a progress line every step, a small evaluation);
:func:`subprocess_env` the environment such a run gets (JSON logs, one torch thread, no
hub); :func:`events` the progress records of its output; :func:`run_and_signal` runs one
and sends SIGTERM once training is under way, to the Job's process or, with
:func:`worker_with_rank`, to one rank of the training processes torchrun started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myretail_testkit.project_files import LOYALTY_TRAIN, LOYALTY_VAL


def short_job_values(
    tiny_base: Path, store: Path, checkpoints: Path, tag: str, steps: int
) -> dict[str, Any]:
    """Settings of a short cpu/lora run publishing ``tag`` to the file store ``store``."""
    return {
        "train_dataset_file": str(LOYALTY_TRAIN),
        "eval_dataset_file": str(LOYALTY_VAL),
        "base_model": str(tiny_base),
        "model_tag": tag,
        "model_store_uri": store.as_uri(),
        "checkpoint_dir": str(checkpoints),
        "max_steps": steps,
        "batch_size": 8,
        "checkpoint_steps": 10,
        "logging_steps": 1,
        "eval_before_training": False,
        "eval_train_accuracy": False,
        "eval_max_examples": 8,
        "eval_max_new_tokens": 16,
    }


def subprocess_env() -> dict[str, str]:
    """This environment without the Job's own variables, plus JSON logs and one thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODEL_", "FINETUNE_"))}
    env.update(LOG_FORMAT="json", PYTHONUNBUFFERED="1", CPU_THREADS="1", HF_HUB_OFFLINE="1")
    return env


def events(output: str) -> list[dict[str, Any]]:
    """The progress records (JSON log lines with an ``event``) of a run's output."""
    found = []
    for line in output.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            if "event" in record:
                found.append(record)
    return found


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        children = (task / "children").read_text().split() if (task / "children").exists() else []
        found += [int(child) for child in children]
    return found


def worker_with_rank(launcher_pid: int, rank: int) -> int | None:
    """The pid of the process below ``launcher_pid`` whose environment has RANK=rank."""
    pending = _children(launcher_pid)
    while pending:
        pid = pending.pop()
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if f"RANK={rank}".encode() in environ:
            return pid
        pending += _children(pid)
    return None


@dataclass(frozen=True)
class SignalledRun:
    status: int
    output: str
    signalled_at_step: int | None


def run_and_signal(
    command: list[str],
    *,
    at_step: int,
    target: Callable[[int], int | None] = lambda pid: pid,
    timeout: float = 240,
) -> SignalledRun:
    """Run ``command`` (a Job printing JSON progress) and, once it reports step ``at_step``,
    SIGTERM the process ``target(pid)`` names; wait for the end."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=subprocess_env()
    )
    assert process.stdout is not None
    lines: list[str] = []
    signalled_at = None
    deadline = time.monotonic() + timeout
    for line in process.stdout:
        lines.append(line)
        if signalled_at is None:
            progress = [e for e in events(line) if e["event"] == "train"]
            if progress and progress[0]["step"] >= at_step:
                pid = target(process.pid)
                assert pid is not None, f"no process to signal below {process.pid}"
                signalled_at = progress[0]["step"]
                os.kill(pid, signal.SIGTERM)
        assert time.monotonic() < deadline, "".join(lines[-20:])
    status = process.wait(timeout=60)
    return SignalledRun(status, "".join(lines), signalled_at)
