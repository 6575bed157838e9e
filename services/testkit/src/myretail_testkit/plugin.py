"""pytest fixtures shared by every test suite (registered by the repository's conftest.py).

* ``seaweedfs`` (session) / ``s3_bucket`` — a real S3-compatible server, a fresh bucket.
* ``tiny_base`` (session) — the tiny Llama-architecture base model, loadable with
  ``AutoModelForCausalLM.from_pretrained`` / ``AutoTokenizer.from_pretrained``.
* ``published_adapter`` (session) — a LoRA adapter trained by the real fine-tune Job with
  the cpu profile's defaults and published to a ``file://`` model store (a
  :class:`~myretail_testkit.models.PublishedAdapter`). Trained once per test run and
  shared by the fine-tune quality tests, the inference and RAG tests and the browser
  end-to-end tests; treat it as read-only (copy ``workdir`` to change anything).
* ``browser`` (session) — the system Chromium, headless and off the network.
* ``restore_logging`` — puts pytest's logging handlers back after a CLI reconfigured them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


# Per module, not per session: playwright's sync API keeps an event loop running in the main
# thread while the browser is open, and tests that call asyncio.run() cannot run meanwhile.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through playwright (``make system-deps`` installs it)."""
    from myretail_testkit.browser import chromium_available, launch_chromium

    if not chromium_available():
        pytest.fail("Chromium is missing: apt-get install chromium (`make system-deps`)")
    with launch_chromium() as chromium:
        yield chromium


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLIs configure logging for their process; put pytest's handlers back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
