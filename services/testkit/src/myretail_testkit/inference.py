"""Helpers for tests that serve a real model over loopback (this suite and others').

``serve_published(published, cache_dir)`` loads a published tag (an object with
``store_uri``, ``model_name`` and ``tag``, like ``myretail_testkit.models``'s
``published_adapter``) and serves it on a free loopback port::

    with serve_published(published_adapter, tmp_path) as (server, engine):
        httpx.post(server.url + "/generate", json={"prompt": "..."})

For the engine's own tests: :class:`ProbedModel` (every forward pass recorded, a chosen
one made to fail), :class:`Recorder` (an observer that can act at an exact decode step),
:func:`join_mid_flight` (requests joining a running batch, against one at a time),
:func:`stream` and :func:`need_cuda` (GPU-only tests; ``ci/gpu-checks.sh`` sets
``MYRETAIL_TEST_CUDA=1`` so that they fail rather than skip without a GPU).

Only test code imports this module.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from myretail_inference.app import create_app
from myretail_inference.engine import BatchingEngine, engine_options
from myretail_inference.engine_api import Finished, NullObserver, SamplingParams
from myretail_inference.loader import LoadedModel, load_model
from myretail_inference.settings import InferenceSettings
from myretail_testkit.servers import LiveServer

# ci/gpu-checks.sh sets it: the GPU-only tests then fail instead of skipping without CUDA.
CUDA_SWITCH = "MYRETAIL_TEST_CUDA"


def cuda_expected() -> bool:
    """True when the run must happen on a CUDA GPU (``MYRETAIL_TEST_CUDA=1``)."""
    return os.environ.get(CUDA_SWITCH) == "1"


def need_cuda() -> None:
    """Skip a GPU-only test on a machine without CUDA (fail under ``MYRETAIL_TEST_CUDA=1``)."""
    import pytest
    import torch

    if torch.cuda.is_available():
        return
    if cuda_expected():
        pytest.fail(f"{CUDA_SWITCH}=1 but torch sees no CUDA GPU")
    pytest.skip("needs a CUDA GPU (ci/gpu-checks.sh runs it on one)")


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


def start_engine(loaded: LoadedModel, model: Any = None, **limits: Any) -> BatchingEngine:
    """A started, warmed-up engine over an already loaded model (or ``model``, a
    :class:`ProbedModel` around it)."""
    engine = BatchingEngine(model or loaded.model, loaded.tokenizer, loaded.info, **limits)
    engine.warmup()
    return engine


@dataclass
class Recorder(NullObserver):
    """An engine observer that keeps the batch size of every forward pass.

    ``on_decode`` (called on the engine thread, after the n-th decode pass) lets a test
    act at an exact engine step instead of at a wall-clock or consumer-pace moment.
    """

    passes: list[tuple[str, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    on_decode: dict[int, Callable[[], None]] = field(default_factory=dict)

    def forward_pass(self, kind: str, batch_size: int, seconds: float) -> None:
        with self.lock:
            self.passes.append((kind, batch_size))
            decodes = sum(1 for recorded, _ in self.passes if recorded == "decode")
        action = self.on_decode.pop(decodes, None) if kind == "decode" else None
        if action is not None:
            action()

    def decode_sizes(self) -> list[int]:
        with self.lock:
            return [size for kind, size in self.passes if kind == "decode"]


@dataclass
class JoinRun:
    """Answers of :func:`join_mid_flight`: one at a time, then sharing the batch."""

    alone: list[Finished]
    together: list[Finished]
    decode_sizes: list[int]  # batch size of every decode pass of the shared run
    joined_mid_flight: bool  # every joiner was submitted while the first one decoded


def join_mid_flight(
    engine: BatchingEngine,
    prompts: list[list[int]],
    first: SamplingParams,
    joiners: SamplingParams,
    join_after: tuple[int, ...] = (5, 15),
) -> JoinRun:
    """Run ``prompts`` one at a time, then again with ``prompts[1:]`` joining the batch
    after the given decode passes of ``prompts[0]`` (the engine's observer must be a
    :class:`Recorder`): the engine thread waits until each joiner is queued, so it is
    admitted before the next pass whatever the machine's load."""
    observer = engine.observer
    assert isinstance(observer, Recorder), "join_mid_flight needs a Recorder observer"
    alone = [engine.generate_sync(prompts[0], first)]
    alone += [engine.generate_sync(prompt, joiners) for prompt in prompts[1:]]

    async def staggered() -> list[Finished]:
        loop = asyncio.get_running_loop()
        later: list[asyncio.Future[Finished]] = []

        async def join(prompt: list[int]) -> None:
            later.append(asyncio.ensure_future(engine.submit(prompt, joiners).result()))

        def join_now(prompt: list[int]) -> Callable[[], None]:
            return lambda: asyncio.run_coroutine_threadsafe(join(prompt), loop).result(10)

        observer.on_decode.update(
            {step: join_now(prompt) for step, prompt in zip(join_after, prompts[1:], strict=True)}
        )
        result = await engine.submit(prompts[0], first).result()
        return [result, *(await asyncio.gather(*later))]

    with observer.lock:
        observer.passes.clear()
    together = asyncio.run(staggered())
    run = JoinRun(alone, together, observer.decode_sizes(), not observer.on_decode)
    wait_until_idle(engine)
    return run


def stream(
    engine: BatchingEngine, prompt: list[int], params: SamplingParams
) -> tuple[str, Finished]:
    """Submit one request and collect its stream: (the deltas joined, the final event)."""

    async def collect() -> tuple[str, Finished]:
        text = ""
        async for event in engine.submit(prompt, params).events():
            if isinstance(event, Finished):
                return text, event
            text += event.text
        raise AssertionError("the stream ended without a final event")

    return asyncio.run(collect())


def wait_until_idle(engine: BatchingEngine, timeout: float = 10.0) -> None:
    """Until the engine has nothing running or waiting."""
    deadline = time.monotonic() + timeout
    while engine.stats()["active"] or engine.stats()["queue_depth"]:
        assert time.monotonic() < deadline, engine.stats()
        time.sleep(0.01)


Fault = Callable[[int, dict[str, Any]], BaseException | None]


class ProbedModel:
    """A model seen through a probe: every forward pass is recorded, and ``fault`` may
    make a chosen one raise (before it runs), to test how the engine copes.

    ``passes`` holds a :class:`Pass` per forward pass: one with more than one token per
    row is a prefill. ``fault(number, kwargs)`` gets the pass number (from 1) and the
    call's arguments and returns the exception to raise, or None.
    """

    def __init__(self, model: Any, fault: Fault | None = None) -> None:
        self.model = model
        self.fault = fault
        self.passes: list[Pass] = []
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def __call__(self, **kwargs: Any) -> Any:
        rows, tokens = kwargs["input_ids"].shape
        mask = kwargs.get("attention_mask")
        real = int(mask[:, -tokens:].sum()) if mask is not None else rows * tokens
        with self.lock:
            self.passes.append(Pass(tokens, rows, real))
            number = len(self.passes)
        error = self.fault(number, kwargs) if self.fault else None
        if error is not None:
            raise error
        return self.model(**kwargs)

    def prefills(self) -> list[Pass]:
        with self.lock:
            return [one for one in self.passes if one.tokens > 1]

    def clear(self) -> None:
        with self.lock:
            self.passes.clear()


@dataclass(frozen=True)
class Pass:
    """One forward pass seen by a :class:`ProbedModel`."""

    tokens: int  # per row (columns of input_ids)
    rows: int
    real: int  # tokens that are not padding

    @property
    def padded(self) -> int:
        return self.tokens * self.rows


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
    engine = start_engine(load_model(settings), **engine_options(settings))
    try:
        with serve_engine(settings, engine) as live:
            yield live, engine
    finally:
        engine.stop()
