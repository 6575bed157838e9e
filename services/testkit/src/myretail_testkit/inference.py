"""Helpers for tests that serve a real model over loopback (this suite and others').

``serve_published(published, cache_dir)`` loads a published tag (an object with
``store_uri``, ``model_name`` and ``tag``, like ``myretail_testkit.models``'s
``published_adapter``) and serves it on a free loopback port::

    with serve_published(published_adapter, tmp_path) as (server, engine):
        httpx.post(server.url + "/generate", json={"prompt": "..."})

Only test code imports this module.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from myretail_inference.app import create_app
from myretail_inference.engine import BatchingEngine
from myretail_inference.loader import LoadedModel, load_model
from myretail_inference.settings import InferenceSettings
from myretail_testkit.servers import LiveServer


def make_settings(published: Any, cache_dir: Path, **overrides: Any) -> InferenceSettings:
    """Settings that serve ``published`` with small test-friendly limits."""
    values: dict[str, Any] = {
        "model_store_uri": published.store_uri,
        "model_name": published.model_name,
        "model_tag": published.tag,
        "model_cache_dir": cache_dir,
        "default_max_new_tokens": 24,
        "max_new_tokens_limit": 256,
        "log_format": "text",
        **overrides,
    }
    return InferenceSettings(**values)


def start_engine(loaded: LoadedModel, **limits: Any) -> BatchingEngine:
    """A started, warmed-up engine over an already loaded model."""
    engine = BatchingEngine(loaded.model, loaded.tokenizer, loaded.info, **limits)
    engine.warmup()
    return engine


@contextmanager
def serve_engine(settings: InferenceSettings, engine: BatchingEngine) -> Iterator[LiveServer]:
    """A live server for ``engine`` (the caller keeps owning the engine)."""
    with LiveServer(create_app(settings, engine)) as live:
        yield live


@contextmanager
def serve_published(
    published: Any, cache_dir: Path, **overrides: Any
) -> Iterator[tuple[LiveServer, BatchingEngine]]:
    """Load ``published`` and serve it; stops the engine on exit."""
    settings = make_settings(published, cache_dir, **overrides)
    engine = start_engine(
        load_model(settings),
        max_batch_size=settings.max_batch_size,
        max_queue_size=settings.max_queue_size,
        request_timeout_seconds=settings.request_timeout_seconds,
    )
    try:
        with serve_engine(settings, engine) as live:
            yield live, engine
    finally:
        engine.stop()
