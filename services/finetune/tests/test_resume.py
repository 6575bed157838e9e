"""Kill and resume: SIGTERM a running training subprocess, restart it, compare.

The interrupted Job writes a checkpoint and exits with ``ExitCode.INTERRUPTED``; the
restarted one resumes from the newest *complete* checkpoint (a newer partial one is
ignored), ends at the same total step count as an uninterrupted run, and its final
eval loss is within 5% of that run's.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from myretail_finetune.config import FinetuneSettings
from myretail_finetune.errors import ExitCode
from myretail_finetune.job import run_job
from myretail_testkit.finetune_runs import (
    events,
    run_and_signal,
    short_job_values,
    subprocess_env,
)
from myretail_testkit.models import torch_threads

pytestmark = pytest.mark.slow

TOTAL_STEPS = 40
KILL_AFTER_STEP = 12


def job_values(tiny_base: Path, work: Path, tag: str) -> dict[str, Any]:
    return short_job_values(
        tiny_base, work / "store", work / f"checkpoints-{tag}", tag, TOTAL_STEPS
    )


def test_sigterm_checkpoints_and_restart_resumes(tiny_base: Path, tmp_path: Path) -> None:
    values = job_values(tiny_base, tmp_path, "resumed")
    config = tmp_path / "finetune.yaml"
    config.write_text(yaml.safe_dump(values))
    command = [sys.executable, "-m", "myretail_finetune", "train", "--config", str(config)]
    checkpoints = Path(values["checkpoint_dir"])

    # 1. Start, SIGTERM once training is under way.
    first = run_and_signal(command, at_step=KILL_AFTER_STEP)
    first_output = first.output
    signalled_at_step = first.signalled_at_step
    assert signalled_at_step is not None, first_output[-3000:]
    assert first.status == ExitCode.INTERRUPTED, first_output[-3000:]
    assert "error: stopped by SIGTERM at step" in first_output
    complete = sorted(
        int(p.name.split("-")[1])
        for p in checkpoints.glob("checkpoint-*")
        if (p / "checkpoint-complete.json").is_file()
    )
    saved_step = complete[-1]
    assert signalled_at_step <= saved_step < TOTAL_STEPS
    assert not (tmp_path / "store").exists() or not list(
        (tmp_path / "store").rglob("manifest.json")
    )

    # A newer checkpoint that never got its marker (died mid-save) must never be resumed.
    partial = checkpoints / f"checkpoint-{TOTAL_STEPS - 1}"
    partial.mkdir()
    (partial / "trainer_state.json").write_text("{not json")

    # 2. Restart: resumes from the saved step and finishes.
    second = subprocess.run(
        command, capture_output=True, text=True, env=subprocess_env(), timeout=300, check=False
    )
    assert second.returncode == 0, (second.stdout + second.stderr)[-3000:]
    resumed = [e for e in events(second.stdout) if e["event"] == "resume"]
    assert [e["step"] for e in resumed] == [saved_step]
    train_steps = [e["step"] for e in events(second.stdout) if e["event"] == "train"]
    assert train_steps[0] == saved_step + 1 and train_steps[-1] == TOTAL_STEPS
    assert not partial.exists()
    manifest = json.loads((tmp_path / "store/loyalty-assistant/resumed/manifest.json").read_text())
    assert manifest["train_steps"] == TOTAL_STEPS

    # 3. The same Job uninterrupted, in this process.
    with torch_threads(1):
        reference = run_job(FinetuneSettings(**job_values(tiny_base, tmp_path, "reference")))
    assert reference.manifest["train_steps"] == TOTAL_STEPS
    resumed_loss = manifest["metrics"]["after"]["eval_loss"]
    reference_loss = reference.metrics["after"]["eval_loss"]
    assert abs(resumed_loss - reference_loss) <= 0.05 * reference_loss
