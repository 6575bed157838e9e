"""pytest fixtures shared by every test suite (registered by the repository's conftest.py).

* ``seaweedfs`` (session) / ``s3_bucket`` — a real S3-compatible server, a fresh bucket.
* ``tiny_base`` (session) — the tiny Llama-architecture base model, loadable with
  ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained``.
* ``published_adapter`` (session) — a LoRA adapter trained by the real fine-tune Job and
  published to a ``file://`` model store (a :class:`~myretail_testkit.models.PublishedAdapter`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from myretail_testkit.models import (
    PublishedAdapter,
    build_project_tiny_base,
    fine_tune_for_tests,
)
from myretail_testkit.seaweedfs import SeaweedFS


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """One real S3-compatible server for the whole test session."""
    with SeaweedFS() as server:
        yield server


@pytest.fixture
def s3_bucket(seaweedfs: SeaweedFS) -> str:
    """A fresh, empty bucket on the session's SeaweedFS."""
    return seaweedfs.create_bucket(f"test-{uuid.uuid4().hex[:12]}")


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny Llama-architecture base model, built once per test session."""
    return build_project_tiny_base(tmp_path_factory.mktemp("tiny-base") / "model")


@pytest.fixture(scope="session")
def published_adapter(
    tiny_base: Path, tmp_path_factory: pytest.TempPathFactory
) -> PublishedAdapter:
    """A LoRA adapter fine-tuned by the real Job and published to a file:// store."""
    return fine_tune_for_tests(tiny_base, tmp_path_factory.mktemp("published-adapter"))
