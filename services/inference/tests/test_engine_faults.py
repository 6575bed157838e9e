"""One failing request never fails the batch; a dead device stops the engine for good.

A :class:`ProbedModel` wraps the real (tiny) model and raises a chosen exception on a
chosen forward pass: a prefill that fails (out of memory included) fails only the
requests it was admitting, while the requests already decoding finish as if nothing
happened; a device error that leaves the GPU unusable fails everything, turns readiness
and liveness off and calls the exit hook; and no caller waits past its deadline, even
for an engine that hangs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import torch

from myretail_common.prompt import build_prompt
from myretail_inference import engine_api
from myretail_inference.engine import BatchingEngine, is_fatal_device_error
from myretail_inference.engine_api import (
    EngineFailedError,
    Finished,
    SamplingParams,
)
from myretail_inference.loader import LoadedModel
from myretail_inference.settings import InferenceSettings
from myretail_testkit.inference import ProbedModel, serve_engine, start_engine, wait_until_idle

LONG = SamplingParams(max_new_tokens=40, ignore_eos=True)
SHORT = SamplingParams(max_new_tokens=8, ignore_eos=True)


class Trap:
    """A :class:`ProbedModel` fault: once armed, raises ``error`` on the next pass of the
    chosen kind with at least ``rows`` rows; ``at_decode`` runs an action on the engine
    thread before the n-th decode pass from now (the engine waits for it)."""

    def __init__(self) -> None:
        self.armed: tuple[str, BaseException, int] | None = None
        self.sprung = threading.Event()
        self.decodes = 0
        self.actions: dict[int, Callable[[], None]] = {}

    def arm(self, kind: str, error: BaseException, rows: int = 1) -> None:
        self.armed = (kind, error, rows)

    def at_decode(self, step: int, action: Callable[[], None]) -> None:
        self.decodes = 0
        self.actions[step] = action

    def __call__(self, number: int, kwargs: dict[str, Any]) -> BaseException | None:
        rows, tokens = kwargs["input_ids"].shape
        if tokens == 1:
            self.decodes += 1
            action = self.actions.pop(self.decodes, None)
            if action is not None:
                action()
        if self.armed is None:
            return None
        kind, error, least = self.armed
        if (kind == "prefill") != (tokens > 1) or rows < least:
            return None
        self.armed = None
        self.sprung.set()
        return error


@pytest.fixture
def trapped(loaded: LoadedModel) -> Iterator[tuple[BatchingEngine, Trap, list[str]]]:
    trap = Trap()
    fatal: list[str] = []
    engine = start_engine(
        loaded, ProbedModel(loaded.model, trap), max_batch_size=4, max_queue_size=8
    )
    engine.on_fatal = fatal.append
    yield engine, trap, fatal
    engine.stop()


def _prompts(engine: BatchingEngine, questions: list[str]) -> list[list[int]]:
    return [engine.encode(build_prompt(q)) for q in questions]


OUT_OF_MEMORY = torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


@pytest.mark.parametrize("error", [RuntimeError("boom"), OUT_OF_MEMORY], ids=["error", "oom"])
def test_a_failing_prefill_fails_only_the_requests_it_admitted(
    trapped: tuple[BatchingEngine, Trap, list[str]], questions: list[str], error: Exception
) -> None:
    engine, trap, fatal = trapped
    prompts = _prompts(engine, questions)
    alone = engine.generate_sync(prompts[0], LONG)
    errors_before = engine.stats()["out_of_memory_errors"]

    async def scenario() -> tuple[Finished, list[Finished], Finished]:
        loop = asyncio.get_running_loop()
        joiners: list[asyncio.Future[Finished]] = []

        async def join() -> None:
            for prompt in prompts[1:3]:
                joiners.append(asyncio.ensure_future(engine.submit(prompt, SHORT).result()))

        def join_now() -> None:
            # On the engine thread, which waits until both are queued: one prefill job.
            trap.arm("prefill", error, rows=2)
            asyncio.run_coroutine_threadsafe(join(), loop).result(10)

        trap.at_decode(3, join_now)
        first = await engine.submit(prompts[0], LONG).result()
        failed = list(await asyncio.gather(*joiners))
        after = await engine.submit(prompts[3], SHORT).result()
        return first, failed, after

    first, failed, after = asyncio.run(scenario())
    assert trap.sprung.is_set()
    assert [f.finish_reason for f in failed] == ["error", "error"]
    assert first.finish_reason == "length" and first.text == alone.text  # untouched
    assert after.finish_reason == "length"  # the engine carries on
    assert engine.ready and engine.alive and not fatal
    out_of_memory = isinstance(error, torch.OutOfMemoryError)
    assert ("out of memory" in (failed[0].error or "")) == out_of_memory
    assert engine.stats()["out_of_memory_errors"] == errors_before + int(out_of_memory)
    wait_until_idle(engine)


def test_out_of_memory_in_a_decode_step_fails_that_batch_and_the_engine_goes_on(
    trapped: tuple[BatchingEngine, Trap, list[str]], questions: list[str]
) -> None:
    engine, trap, fatal = trapped
    prompts = _prompts(engine, questions)

    async def scenario() -> tuple[list[Finished], Finished]:
        handles = [engine.submit(p, LONG) for p in prompts[:2]]
        trap.arm("decode", OUT_OF_MEMORY, rows=2)  # once both share the batch
        failed = list(await asyncio.gather(*(h.result() for h in handles)))
        return failed, await engine.submit(prompts[2], SHORT).result()

    failed, after = asyncio.run(scenario())
    assert [f.finish_reason for f in failed] == ["error", "error"]
    assert all("out of memory" in (f.error or "") for f in failed)
    assert after.finish_reason == "length" and engine.alive and not fatal


def test_a_dead_gpu_fails_everything_and_stops_the_engine_for_good(
    trapped: tuple[BatchingEngine, Trap, list[str]],
    questions: list[str],
    settings: InferenceSettings,
) -> None:
    engine, trap, fatal = trapped
    prompts = _prompts(engine, questions)
    device_error = torch.AcceleratorError("CUDA error: an illegal memory access was encountered")
    assert is_fatal_device_error(device_error)
    assert is_fatal_device_error(RuntimeError("CUDA error: device-side assert triggered"))
    assert not is_fatal_device_error(OUT_OF_MEMORY)

    with serve_engine(settings, engine) as server:
        assert httpx.get(f"{server.url}/readyz").status_code == 200
        assert httpx.get(f"{server.url}/healthz").status_code == 200

        async def scenario() -> list[Finished]:
            # Four running, two waiting (four slots): every one of them must fail.
            handles = [engine.submit(p, LONG) for p in (prompts * 2)[:6]]
            await asyncio.sleep(0)
            trap.arm("decode", device_error)
            return list(await asyncio.gather(*(h.result() for h in handles)))

        results = asyncio.run(scenario())
        assert [r.finish_reason for r in results] == ["error"] * 6
        assert all("illegal memory access" in (r.error or "") for r in results)
        assert not engine.ready and not engine.alive
        assert engine.failure is not None and "illegal memory access" in engine.failure
        assert fatal == [engine.failure]  # the service's hook: exit so the pod restarts
        ready = httpx.get(f"{server.url}/readyz")
        assert ready.status_code == 503
        assert "the engine failed: " in ready.json()["checks"]["model"]
        health = httpx.get(f"{server.url}/healthz")  # liveness: Kubernetes restarts the pod
        assert health.status_code == 503 and health.json()["status"] == "dead"
        assert "illegal memory access" in health.json()["checks"]["engine"]
        refused = httpx.post(f"{server.url}/generate", json={"prompt": "Tiers?"})
        assert refused.status_code == 503
    with pytest.raises(EngineFailedError, match="illegal memory access"):
        engine.generate_sync(prompts[0], SHORT)


def test_a_dead_engine_thread_is_reported(loaded: LoadedModel, questions: list[str]) -> None:
    fatal: list[str] = []
    engine = start_engine(loaded, max_batch_size=2)
    engine.on_fatal = fatal.append
    prompt = engine.encode(build_prompt(questions[0]))

    def broken() -> None:
        raise AssertionError("a bug in the scheduler")

    engine._take_waiting = broken  # type: ignore[assignment,method-assign]
    try:
        # The request already in the engine fails with the reason; nothing is left hanging.
        result = engine.generate_sync(prompt, SHORT, timeout=10)
        assert result.finish_reason == "error"
        assert "the engine thread died" in (result.error or "")
        assert not engine.alive and not engine.ready
        assert fatal and "the engine thread died" in fatal[0]  # called before requests fail
    finally:
        engine.stop()


def test_every_request_has_a_deadline_even_with_a_hung_engine(
    loaded: LoadedModel, questions: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forward pass that never returns (a hung GPU): callers still get their timeout."""
    release = threading.Event()

    def hang(number: int, kwargs: dict[str, Any]) -> None:
        if hung.is_set():
            release.wait(30)
        return None

    hung = threading.Event()
    engine = start_engine(
        loaded, ProbedModel(loaded.model, hang), max_batch_size=2, request_timeout_seconds=0.3
    )
    monkeypatch.setattr(engine_api, "DEADLINE_GRACE_SECONDS", 0.2)
    prompt = engine.encode(build_prompt(questions[0]))
    try:
        hung.set()

        async def wait() -> Finished:
            return await engine.submit(prompt, LONG).result()

        result = asyncio.run(asyncio.wait_for(wait(), timeout=10))
        assert result.finish_reason == "timeout"
    finally:
        release.set()
        hung.clear()
        engine.stop()
