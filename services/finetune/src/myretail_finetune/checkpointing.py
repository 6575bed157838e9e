"""Complete checkpoints, resuming from the newest one, and stopping cleanly on SIGTERM.

The Trainer writes ``checkpoint-<step>/`` (weights or adapter, optimizer, scheduler, RNG
state, trainer state with the data position). Only once that folder is fully written does
:class:`CheckpointCallback` add the marker ``checkpoint-complete.json``; a folder without
it (the process died mid-save) is never resumed and is deleted on the next start.

The location is a local folder (a PVC path or ``file://`` URI) or a store URI
(``s3://…``): then the Trainer writes to a local work folder and every complete
checkpoint is uploaded with the marker last (``Storage.publish_dir``), older ones are
pruned, and a restart downloads the newest complete one.

On SIGTERM (spot reclaim, eviction) :class:`GracefulStop` asks the Trainer to save at
the end of the current step and stop; the Job then exits with ``ExitCode.INTERRUPTED``
so Kubernetes retries it. If the save cannot finish within the grace period the process
exits anyway, leaving the previous complete checkpoint as the resume point.

With several training processes (:mod:`.distributed`) the stop request is agreed on at the
end of every step, so a SIGTERM on any rank stops every rank after the same step; rank 0
writes the checkpoint (the Trainer saves the weights there) and marks it complete once
every rank has written its part (its RNG state).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from transformers import TrainerCallback

from myretail_common.storage import Storage, StorageError
from myretail_finetune.distributed import Topology
from myretail_finetune.errors import ExitCode, StoreError

logger = logging.getLogger(__name__)

MARKER = "checkpoint-complete.json"
BASELINE_NAME = "baseline-metrics.json"
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


def _step_of(name: str) -> int | None:
    match = _CHECKPOINT.match(name)
    return int(match.group(1)) if match else None


@dataclass
class CheckpointLocation:
    """Where checkpoints live: ``local`` always, ``remote`` for store URIs."""

    uri: str
    local: Path
    remote: Storage | None = None

    @classmethod
    def open(cls, uri: str, storage_options: dict[str, Any]) -> CheckpointLocation:
        if uri.startswith(("s3://", "s3a://")):
            try:
                remote = Storage(uri, **storage_options)
                remote.list_dir("")  # reachable?
            except StorageError as exc:
                raise StoreError(f"checkpoint location unreachable: {exc}") from exc
            local = Path(tempfile.mkdtemp(prefix="myretail-checkpoints-"))
            return cls(uri, local, remote)
        path = Path(uri.split("://", 1)[1]) if uri.startswith("file://") else Path(uri)
        path.mkdir(parents=True, exist_ok=True)
        return cls(uri, path.resolve())

    # -- discovery --------------------------------------------------------------------------

    def _local_complete(self) -> dict[int, Path]:
        found: dict[int, Path] = {}
        for child in self.local.iterdir() if self.local.is_dir() else []:
            step = _step_of(child.name)
            if step is not None and child.is_dir() and (child / MARKER).is_file():
                found[step] = child
        return found

    def discard_incomplete(self) -> None:
        """Delete local checkpoint folders that never got their marker."""
        for child in self.local.iterdir():
            if _step_of(child.name) is not None and not (child / MARKER).is_file():
                logger.warning("discarding incomplete checkpoint", extra={"path": str(child)})
                shutil.rmtree(child, ignore_errors=True)

    def newest_complete(self) -> Path | None:
        """The newest complete checkpoint as a local folder (downloaded if remote)."""
        self.discard_incomplete()
        if self.remote is not None:
            try:
                steps = sorted(
                    (step, name)
                    for name in self.remote.list_dir("")
                    if (step := _step_of(name)) is not None
                    and self.remote.is_published(name, MARKER)
                )
                if steps:
                    step, name = steps[-1]
                    target = self.local / name
                    if not (target / MARKER).is_file():
                        shutil.rmtree(target, ignore_errors=True)
                        staging = self.local / f".download-{name}"
                        shutil.rmtree(staging, ignore_errors=True)
                        self.remote.download_dir(name, staging)
                        staging.rename(target)
            except StorageError as exc:
                raise StoreError(f"cannot read checkpoints: {exc}") from exc
        complete = self._local_complete()
        return complete[max(complete)] if complete else None

    # -- writing ----------------------------------------------------------------------------

    def mark_complete(self, folder: Path, step: int) -> None:
        marker = {"step": step, "completed_at": time.time()}
        temporary = folder / f".{MARKER}.tmp"
        temporary.write_text(json.dumps(marker))
        os.replace(temporary, folder / MARKER)
        if self.remote is not None:
            try:
                self.remote.publish_dir(folder, folder.name, marker=MARKER, overwrite=True)
            except StorageError as exc:
                raise StoreError(f"cannot upload checkpoint {folder.name}: {exc}") from exc

    def prune(self, keep: int) -> None:
        """Keep only the newest ``keep`` complete checkpoints (local and remote)."""
        complete = self._local_complete()
        for old in sorted(complete)[:-keep]:
            shutil.rmtree(complete[old], ignore_errors=True)
        if self.remote is not None:
            try:
                remote_steps = sorted(
                    (number, name)
                    for name in self.remote.list_dir("")
                    if (number := _step_of(name)) is not None
                )
                for _, name in remote_steps[:-keep]:
                    self.remote.delete(name)
            except StorageError as exc:
                logger.warning("could not prune remote checkpoints", extra={"reason": str(exc)})

    # -- baseline metrics (the "before training" evaluation survives restarts) -----------------

    def save_baseline(self, metrics: dict[str, Any]) -> None:
        text = json.dumps(metrics, sort_keys=True)
        temporary = self.local / f".{BASELINE_NAME}.tmp"
        temporary.write_text(text)
        os.replace(temporary, self.local / BASELINE_NAME)
        if self.remote is not None:
            try:
                self.remote.write_text(BASELINE_NAME, text)
            except StorageError as exc:
                raise StoreError(f"cannot write to the checkpoint location: {exc}") from exc

    def load_baseline(self) -> dict[str, Any] | None:
        try:
            if self.remote is not None:
                if not self.remote.exists(BASELINE_NAME):
                    return None
                loaded: dict[str, Any] = json.loads(self.remote.read_text(BASELINE_NAME))
                return loaded
            path = self.local / BASELINE_NAME
            return json.loads(path.read_text()) if path.is_file() else None
        except (StorageError, ValueError):
            return None

    def cleanup(self) -> None:
        """Remove the local work folder of a remote location."""
        if self.remote is not None:
            shutil.rmtree(self.local, ignore_errors=True)


class GracefulStop:
    """SIGTERM handling: request a checkpoint-and-stop, with a hard deadline."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.requested = threading.Event()
        self.signal_name: str | None = None
        self._timer: threading.Timer | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> GracefulStop:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
        self.cancel_deadline()

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested.is_set():
            return
        self.signal_name = signal.Signals(signum).name
        self.requested.set()
        logger.warning(
            "stop requested: writing a checkpoint at the end of this step",
            extra={"signal": self.signal_name, "grace_seconds": self.grace_seconds},
        )
        self._timer = threading.Timer(self.grace_seconds, self._deadline)
        self._timer.daemon = True
        self._timer.start()

    def _deadline(self) -> None:
        logger.error(
            "grace period over before the checkpoint finished; exiting without it",
            extra={"grace_seconds": self.grace_seconds},
        )
        print("error: stopped by signal; grace period exceeded", file=sys.stderr, flush=True)
        os._exit(int(ExitCode.INTERRUPTED))

    def cancel_deadline(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class CheckpointCallback(TrainerCallback):
    """Marks saved checkpoints complete, saves on stop requests and at the last step."""

    def __init__(
        self,
        location: CheckpointLocation,
        stop: GracefulStop,
        keep: int,
        topology: Topology | None = None,
    ) -> None:
        self.location = location
        self.stop = stop
        self.keep = keep
        self.topology = topology or Topology()
        self.last_saved_step: int | None = None

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if state.max_steps and state.global_step >= state.max_steps:
            control.should_save = True
        if self.topology.any(self.stop.requested.is_set(), args.device):
            control.should_save = True
            control.should_training_stop = True
        return control

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
        self.topology.barrier()  # every rank has written its part of the checkpoint
        self.last_saved_step = state.global_step
        if self.topology.is_main and folder.is_dir():
            self.location.mark_complete(folder, state.global_step)
            self.location.prune(self.keep)
            logger.info(
                "checkpoint saved",
                extra={"step": state.global_step, "location": self.location.uri},
            )
        return control
