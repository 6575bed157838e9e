"""Fixtures of the UI tests: stand-in backends on real loopback ports."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from myretail_testkit.servers import LiveServer
from myretail_testkit.ui_backends import BackendState, inference_app, rag_app


@pytest.fixture
def rag_state() -> BackendState:
    return BackendState()


@pytest.fixture
def inference_state() -> BackendState:
    return BackendState()


@pytest.fixture
def rag_server(rag_state: BackendState) -> Iterator[LiveServer]:
    with LiveServer(rag_app(rag_state)) as server:
        yield server


@pytest.fixture
def inference_server(inference_state: BackendState) -> Iterator[LiveServer]:
    with LiveServer(inference_app(inference_state)) as server:
        yield server
