"""Splitting the configured batch over training processes, and reading torchrun's env."""

from __future__ import annotations

from pathlib import Path

import pytest

from myretail_finetune.cli import main
from myretail_finetune.distributed import Topology, split_batch
from myretail_finetune.errors import ConfigError, ExitCode


@pytest.mark.parametrize(
    ("batch", "accumulation", "world", "expected"),
    [
        (8, 1, 1, (8, 1)),  # one process: what the config says
        (8, 1, 2, (4, 1)),
        (4, 4, 2, (4, 2)),  # the qlora recipe on 2 GPUs: same per-device batch, half the steps
        (4, 4, 8, (2, 1)),
        (4, 4, 16, (1, 1)),
        (6, 1, 4, None),  # 6 is not divisible by 4
        (12, 1, 8, None),
        (5, 3, 3, (5, 1)),
        (6, 2, 3, (4, 1)),  # largest per-device batch <= 6 that divides each process's 4
    ],
)
def test_the_effective_batch_is_kept(
    batch: int, accumulation: int, world: int, expected: tuple[int, int] | None
) -> None:
    if expected is None:
        with pytest.raises(ConfigError, match=f"not divisible by the {world} training"):
            split_batch(batch, accumulation, world)
        return
    split = split_batch(batch, accumulation, world)
    assert (split.per_device, split.gradient_accumulation_steps) == expected
    assert split.effective == batch * accumulation
    assert split.per_device <= batch


def test_topology_from_torchrun_env() -> None:
    assert Topology.from_env({}) == Topology(1, 0, 0)
    assert not Topology.from_env({}).distributed
    topology = Topology.from_env({"WORLD_SIZE": "4", "RANK": "3", "LOCAL_RANK": "1"})
    assert (topology.world_size, topology.rank, topology.local_rank) == (4, 3, 1)
    assert topology.distributed and not topology.is_main
    with pytest.raises(ConfigError, match="RANK 4 is not within WORLD_SIZE 4"):
        Topology.from_env({"WORLD_SIZE": "4", "RANK": "4"})
    with pytest.raises(ConfigError, match="must be integers"):
        Topology.from_env({"WORLD_SIZE": "two"})


def test_one_process_collectives_are_local() -> None:
    topology = Topology()
    topology.barrier()
    assert topology.any(True) and not topology.any(False)
    assert topology.share_outcome(lambda: 42) == 42


def test_an_indivisible_batch_is_refused_before_anything_loads(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    # What torchrun sets for three processes; the refusal comes before any process group.
    clean_env.setenv("WORLD_SIZE", "3")
    clean_env.setenv("RANK", "0")
    clean_env.setenv("LOCAL_RANK", "0")
    status = main(
        ["train", "--base-model", "/nonexistent", "--model-tag", "v9", "--batch-size", "8"]
    )
    assert status == ExitCode.CONFIG
    error = capsys.readouterr().err
    assert "batch_size 8 x gradient_accumulation_steps 1 = 8) is not divisible by the 3" in error


@pytest.mark.parametrize("code", [0, 3, 75])
def test_the_launcher_exits_with_the_workers_code(tmp_path: Path, code: int) -> None:
    """Plain torchrun exits 1 for any failed worker; the Job's podFailurePolicy needs the
    worker's own code (3: bad data fails the Job at once; 75: retried)."""
    from myretail_finetune.launch import main as launch

    script = tmp_path / "worker.py"
    script.write_text(f"import sys\nsys.exit({code})\n")
    assert launch(["--nproc-per-node=1", "--standalone", str(script)]) == code
