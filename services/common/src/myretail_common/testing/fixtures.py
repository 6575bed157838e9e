"""pytest fixtures shared by every test suite (loaded by the repository's conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from myretail_common.testing.seaweedfs import SeaweedFS


@pytest.fixture(scope="session")
def seaweedfs() -> Iterator[SeaweedFS]:
    """One real S3-compatible server for the whole test session."""
    with SeaweedFS() as server:
        yield server


@pytest.fixture
def s3_bucket(seaweedfs: SeaweedFS) -> str:
    """A fresh, empty bucket on the session's SeaweedFS."""
    return seaweedfs.create_bucket(f"test-{uuid.uuid4().hex[:12]}")
