"""Fixtures of the chart tests; the render helpers live in chart_render.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from chart_render import ENVS, Rendered, cached_env_render


@pytest.fixture(scope="session")
def renders() -> dict[str, Rendered]:
    """The install render of each values file (dev, staging, prod)."""
    return {env: cached_env_render(env) for env in ENVS}


@pytest.fixture(scope="session")
def prod() -> Rendered:
    return cached_env_render("prod")


@pytest.fixture(scope="session")
def dev() -> Rendered:
    return cached_env_render("dev")


@pytest.fixture(scope="session")
def defaults() -> Rendered:
    """The chart's defaults alone."""
    return cached_env_render("defaults")
