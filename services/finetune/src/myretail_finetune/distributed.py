"""Training on several processes (GPUs, nodes) under ``torch.distributed``.

torchrun (or the chart's launcher, :mod:`myretail_finetune.launch`) starts one process per
GPU and sets ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK``; the transformers ``Trainer``
reads them and trains with DistributedDataParallel (gloo on CPU, nccl on CUDA). Without
them the Job is one process, exactly as before.

The configured batch is the *effective* one: ``batch_size x gradient_accumulation_steps``
samples per optimizer step, whatever the number of processes. :func:`split_batch` derives
each process's share so that ``per_device x accumulation x world_size`` equals it, and
``max_steps`` is unchanged, so a run on 8 GPUs takes the same optimizer steps over the same
samples as a run on one.

Everything that writes happens once, on rank 0: checkpoint markers, the baseline
evaluation, the accuracy gate and publishing. The other ranks wait for its outcome
(:meth:`Topology.share_outcome`) and end the same way. Every decision that could differ
between ranks (a SIGTERM reached only one of them) is agreed on first (:meth:`Topology.any`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from myretail_finetune.errors import ConfigError, FinetuneError

T = TypeVar("T")


@dataclass(frozen=True)
class BatchSplit:
    """One process's share of the configured effective batch."""

    per_device: int
    gradient_accumulation_steps: int
    world_size: int

    @property
    def effective(self) -> int:
        return self.per_device * self.gradient_accumulation_steps * self.world_size


def split_batch(batch_size: int, gradient_accumulation_steps: int, world_size: int) -> BatchSplit:
    """Per-device batch and accumulation for ``world_size`` processes, keeping the effective
    batch ``batch_size x gradient_accumulation_steps``.

    The per-device batch is the largest that divides a process's share and is no larger
    than the configured one (what one device was sized for); accumulation makes up the rest.
    """
    effective = batch_size * gradient_accumulation_steps
    if effective % world_size:
        raise ConfigError(
            f"the effective batch (batch_size {batch_size} x gradient_accumulation_steps "
            f"{gradient_accumulation_steps} = {effective}) is not divisible by the "
            f"{world_size} training processes: choose a batch that is, or another number "
            "of GPUs/nodes"
        )
    share = effective // world_size
    per_device = max(d for d in range(1, min(batch_size, share) + 1) if share % d == 0)
    return BatchSplit(per_device, share // per_device, world_size)


class RankZeroFailed(FinetuneError):
    """Raised on the other ranks when rank 0 failed: same message, same exit code."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code  # type: ignore[assignment]


@dataclass(frozen=True)
class Topology:
    """Where this process stands among the training processes (from torchrun's env)."""

    world_size: int = 1
    rank: int = 0
    local_rank: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Topology:
        env = dict(os.environ if env is None else env)
        try:
            topology = cls(
                world_size=int(env.get("WORLD_SIZE", "1")),
                rank=int(env.get("RANK", "0")),
                local_rank=int(env.get("LOCAL_RANK", "0")),
            )
        except ValueError as exc:
            raise ConfigError(f"WORLD_SIZE, RANK and LOCAL_RANK must be integers: {exc}") from exc
        if topology.world_size < 1 or not 0 <= topology.rank < topology.world_size:
            raise ConfigError(
                f"RANK {topology.rank} is not within WORLD_SIZE {topology.world_size}"
            )
        return topology

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict[str, int]:
        return {"world_size": self.world_size, "rank": self.rank, "local_rank": self.local_rank}

    # -- collectives (no-ops on one process; the Trainer set the process group up) ----------

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()

    def any(self, flag: bool, device: Any = "cpu") -> bool:
        """True on every rank when ``flag`` is true on at least one."""
        if not self.distributed:
            return flag
        import torch
        import torch.distributed as dist

        value = torch.tensor([1 if flag else 0], device=device)
        dist.all_reduce(value, op=dist.ReduceOp.MAX)
        return bool(value.item())

    def share_outcome(self, work: Callable[[], T]) -> T:
        """Run ``work`` on rank 0 only and hand its result, or its failure, to every rank.

        The other ranks wait meanwhile; a ``FinetuneError`` on rank 0 is raised on each of
        them as :class:`RankZeroFailed` with the same exit code.
        """
        if not self.distributed:
            return work()
        import torch.distributed as dist

        outcome: list[Any] = [None]
        error: FinetuneError | None = None
        if self.is_main:
            try:
                outcome[0] = ("ok", work())
            except FinetuneError as exc:
                error = exc
                outcome[0] = ("error", str(exc), int(exc.exit_code))
        dist.broadcast_object_list(outcome, src=0)
        if error is not None:
            raise error
        if outcome[0][0] == "error":
            raise RankZeroFailed(f"rank 0: {outcome[0][1]}", outcome[0][2])
        result: T = outcome[0][1]
        return result
