"""Fixtures: the real adapter published by the fine-tune code, loaded once, served live.

``published_adapter`` (from ``myretail_testkit.plugin``, registered by the repository's
conftest.py) is a LoRA
adapter trained on the tiny base by the real fine-tune Job and published to a ``file://``
model store. The model is loaded once per session through the service's own loader;
every engine and live server in this suite shares it (an engine is cheap: one thread).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from myretail_inference.engine import BatchingEngine
from myretail_inference.loader import LoadedModel, load_model
from myretail_inference.settings import InferenceSettings
from myretail_testkit.inference import make_settings, serve_engine, start_engine
from myretail_testkit.servers import LiveServer


@pytest.fixture(scope="session")
def questions() -> list[str]:
    """Questions from the training data (the adapter learned their answers)."""
    return [
        "What are the MyElite tiers?",
        "Does it cost anything to join MyElite?",
        "How do I reach Gold status?",
        "When do my points expire?",
    ]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def settings(published_adapter: Any, model_cache: Path) -> InferenceSettings:
    return make_settings(published_adapter, model_cache)


@pytest.fixture(scope="session")
def loaded(settings: InferenceSettings) -> LoadedModel:
    return load_model(settings)


@pytest.fixture(scope="session")
def engine(loaded: LoadedModel) -> Iterator[BatchingEngine]:
    engine = start_engine(loaded, max_batch_size=16, max_queue_size=64)
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def server(settings: InferenceSettings, engine: BatchingEngine) -> Iterator[LiveServer]:
    """One live server on loopback for the whole session (batch 16, queue 64)."""
    with serve_engine(settings, engine) as live:
        yield live
