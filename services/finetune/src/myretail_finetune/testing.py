"""pytest fixtures other suites use: the tiny base model and a really fine-tuned adapter.

Register from a conftest with ``pytest_plugins = ["myretail_finetune.testing"]``.

* ``tiny_base`` (session) — a folder built by :func:`build_tiny_base`, loadable with
  ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained``.
* ``published_adapter`` (session) — runs the real fine-tune Job (LoRA, a few dozen steps)
  on ``data/loyalty_qa_train.jsonl`` and publishes it to a ``file://`` model store in a
  temporary folder; returns a :class:`PublishedAdapter`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

FIXTURE_MODEL_NAME = "loyalty-assistant"
FIXTURE_TAG = "v1"


@dataclass(frozen=True)
class PublishedAdapter:
    """A tag published by the real Job: ``<store_uri>/<model_name>/<tag>/``."""

    store_uri: str
    model_name: str
    tag: str
    base_model_path: Path
    tag_path: Path
    manifest: dict[str, Any] = field(default_factory=dict)


def project_root() -> Path:
    from myretail_finetune.tiny_base import find_project_root

    root = find_project_root()
    if root is None:
        raise RuntimeError("cannot find the project's data/ folder from the current directory")
    return root


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
    """Run the real Job small and fast, publishing to ``<workdir>/store``."""
    from myretail_finetune.config import FinetuneSettings
    from myretail_finetune.job import run_job

    root = project_root()
    store = workdir / "store"
    values: dict[str, Any] = {
        "train_dataset_file": str(root / "data" / "loyalty_qa_train.jsonl"),
        "eval_dataset_file": str(root / "data" / "loyalty_qa_val.jsonl"),
        "base_model": str(base_model),
        "model_name": FIXTURE_MODEL_NAME,
        "model_tag": tag,
        "model_store_uri": store.as_uri(),
        "checkpoint_dir": str(workdir / "checkpoints"),
        "profile": "cpu",
        "method": "lora",
        "max_steps": 60,
        "batch_size": 8,
        "learning_rate": 3e-3,
        "checkpoint_steps": 1000,
        "logging_steps": 10,
        "eval_before_training": False,
        "eval_train_accuracy": False,
        "eval_max_examples": 8,
        **overrides,
    }
    with torch_threads(1):
        result = run_job(FinetuneSettings(**values))
    return PublishedAdapter(
        store_uri=store.as_uri(),
        model_name=result.model_name,
        tag=result.tag,
        base_model_path=Path(base_model),
        tag_path=store / result.model_name / result.tag,
        manifest=result.manifest,
    )


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama-architecture base model, built once per test session."""
    from myretail_finetune.tiny_base import build_tiny_base

    with torch_threads(1):
        return build_tiny_base(
            tmp_path_factory.mktemp("tiny-base") / "model", project_root=project_root()
        )


@pytest.fixture(scope="session")
def published_adapter(
    tiny_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> PublishedAdapter:
    """A LoRA adapter fine-tuned by the real Job and published to a file:// store."""
    return fine_tune_for_tests(tiny_base, tmp_path_factory.mktemp("published-adapter"))
