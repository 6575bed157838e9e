"""The tiny base model and a really fine-tuned, published adapter, for tests and benches.

:func:`fine_tune_for_tests` runs the real fine-tune Job on ``data/loyalty_qa_train.jsonl``
with the cpu profile's defaults (LoRA, 400 steps: what ``make demo`` trains) and
publishes to a ``file://`` model store. The session fixtures ``tiny_base`` and
``published_adapter`` in :mod:`myretail_testkit.plugin` build both once per test run, and
every consumer shares them: the fine-tune quality tests, the inference and RAG tests and
the browser end-to-end tests (which hand it to ``scripts/demo.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from myretail_testkit.project_files import CATALOG_CSV, LOYALTY_TRAIN, LOYALTY_VAL, POLICY

if TYPE_CHECKING:
    from myretail_finetune.config import FinetuneSettings
    from myretail_finetune.tiny_base import TinyBaseInputs

FIXTURE_MODEL_NAME = "loyalty-assistant"
FIXTURE_TAG = "v1"


@dataclass(frozen=True)
class PublishedAdapter:
    """A tag published by the real Job: ``<store_uri>/<model_name>/<tag>/``.

    ``workdir`` holds what the run left besides the tag: ``store/``, ``checkpoints/`` and
    ``metrics.jsonl``; ``settings`` are the Job's settings (run them again to republish).
    """

    store_uri: str
    model_name: str
    tag: str
    base_model_path: Path
    tag_path: Path
    workdir: Path
    settings: FinetuneSettings
    seconds: float
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def uri(self) -> str:
        """``<store_uri>/<model_name>/<tag>`` (what ``DEMO_ADAPTER_URI`` takes)."""
        return f"{self.store_uri}/{self.model_name}/{self.tag}"

    @property
    def metrics(self) -> dict[str, Any]:
        """The manifest's metrics: ``before`` / ``after`` training, throughput."""
        metrics: dict[str, Any] = self.manifest["metrics"]
        return metrics


def project_tiny_base_inputs() -> TinyBaseInputs:
    """The project's catalog, policy and loyalty Q/A files, as the tiny base's inputs."""
    from myretail_finetune.tiny_base import TinyBaseInputs

    return TinyBaseInputs(CATALOG_CSV, POLICY, (LOYALTY_TRAIN, LOYALTY_VAL))


def build_project_tiny_base(out_dir: Path, **options: Any) -> Path:
    """The tiny base built from the project's data (one torch thread: fastest when busy)."""
    from myretail_finetune.tiny_base import build_tiny_base

    with torch_threads(1):
        return build_tiny_base(out_dir, inputs=project_tiny_base_inputs(), **options)


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Run with ``count`` torch threads; small models train fastest with one on a busy box."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fine_tune_for_tests(
    base_model: Path, workdir: Path, *, tag: str = FIXTURE_TAG, **overrides: Any
) -> PublishedAdapter:
    """Run the real Job with the cpu profile's defaults, publishing to ``<workdir>/store``.

    One run, good enough for every consumer: the quality gate and its before/after
    evaluation, answers that state the training questions' key facts, a metrics file and
    checkpoints. The validation file is given as a ``file://`` URI, as a bucket would be.
    """
    from myretail_finetune.config import FinetuneSettings
    from myretail_finetune.job import run_job

    store = workdir / "store"
    values: dict[str, Any] = {
        "train_dataset_file": str(LOYALTY_TRAIN),
        "eval_dataset_file": LOYALTY_VAL.as_uri(),
        "base_model": str(base_model),
        "model_name": FIXTURE_MODEL_NAME,
        "model_tag": tag,
        "model_store_uri": store.as_uri(),
        "checkpoint_dir": str(workdir / "checkpoints"),
        "metrics_file": str(workdir / "metrics.jsonl"),
        "profile": "cpu",
        "method": "lora",
        "min_eval_accuracy": 0.2,
        **overrides,
    }
    settings = FinetuneSettings(**values)
    started = time.monotonic()
    with torch_threads(1):
        result = run_job(settings)
    return PublishedAdapter(
        store_uri=store.as_uri(),
        model_name=result.model_name,
        tag=result.tag,
        base_model_path=Path(base_model),
        tag_path=store / result.model_name / result.tag,
        workdir=workdir,
        settings=settings,
        seconds=time.monotonic() - started,
        manifest=result.manifest,
    )
