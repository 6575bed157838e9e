"""The continuous-batching engine itself: joins mid-flight, streaming text rules, seeds."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from myretail_common.prompt import STOP_SEQUENCES, build_prompt
from myretail_inference.engine import BatchingEngine, visible_text
from myretail_inference.engine_api import Finished, NullObserver, SamplingParams, TextDelta
from myretail_inference.loader import LoadedModel
from myretail_testkit.inference import start_engine


def test_visible_text_holds_back_possible_stop_sequences() -> None:
    params = SamplingParams(stop=("###",), trim_whitespace=True)
    assert visible_text(" Gold tier\n#", params, final=False) == "Gold tier"
    assert visible_text(" Gold tier\n##", params, final=False) == "Gold tier"
    assert visible_text(" Gold tier\n#x", params, final=False) == "Gold tier\n#x"
    assert visible_text("Gold \ufffd", params, final=False) == "Gold"
    assert visible_text("  Gold  ", params, final=True) == "Gold"
    raw = SamplingParams()
    assert visible_text(" Gold ", raw, final=False) == " Gold "


def test_sampling_params_are_validated() -> None:
    for bad in (
        {"max_new_tokens": 0},
        {"temperature": -1.0},
        {"top_p": 0.0},
        {"repetition_penalty": 0.0},
        {"stop": ("",)},
    ):
        with pytest.raises(ValueError):
            SamplingParams(**bad)  # type: ignore[arg-type]


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


@pytest.fixture(scope="module")
def recorded(loaded: LoadedModel) -> BatchingEngine:
    engine = start_engine(loaded, max_batch_size=4, max_queue_size=8)
    engine.observer = Recorder()
    yield engine  # type: ignore[misc]
    engine.stop()


def test_requests_join_and_leave_between_decode_steps(
    recorded: BatchingEngine, questions: list[str]
) -> None:
    engine = recorded
    long = SamplingParams(max_new_tokens=40, ignore_eos=True)
    short = SamplingParams(max_new_tokens=6, ignore_eos=True, stop=STOP_SEQUENCES)
    prompts = [engine.encode(build_prompt(q)) for q in questions[:3]]
    alone = [engine.generate_sync(prompts[0], long)] + [
        engine.generate_sync(p, short) for p in prompts[1:]
    ]
    observer = engine.observer
    assert isinstance(observer, Recorder)

    async def staggered() -> list[Finished]:
        loop = asyncio.get_running_loop()
        later: list[asyncio.Future[Finished]] = []

        async def join(prompt: list[int]) -> None:
            later.append(asyncio.ensure_future(engine.submit(prompt, short).result()))

        def join_now(prompt: list[int]) -> Callable[[], None]:
            # Runs on the engine thread after a decode pass and waits until the joiner is
            # queued, so it is admitted before the next pass whatever the machine's load.
            return lambda: asyncio.run_coroutine_threadsafe(join(prompt), loop).result(10)

        # Join while the long request is decoding: the first joiner (6 tokens) is done
        # long before the second one arrives, so at most two rows ever share a pass.
        observer.on_decode.update({5: join_now(prompts[1]), 15: join_now(prompts[2])})
        first = await engine.submit(prompts[0], long).result()
        return [first, *(await asyncio.gather(*later))]

    observer.passes.clear()
    together = asyncio.run(staggered())
    assert not observer.on_decode  # both joiners were submitted mid-flight
    assert [r.text for r in together] == [r.text for r in alone]
    assert [r.finish_reason for r in together] == ["length", "length", "length"]
    decode_sizes = [size for kind, size in observer.passes if kind == "decode"]
    assert max(decode_sizes) == 2  # the joiners shared passes with the long request
    assert decode_sizes[-1] == 1  # ... and left the batch when they were done
    _wait_until_idle(engine)


def _wait_until_idle(engine: BatchingEngine) -> None:
    deadline = time.monotonic() + 10
    while engine.stats()["active"] or engine.stats()["queue_depth"]:
        assert time.monotonic() < deadline, engine.stats()
        time.sleep(0.01)


def test_streamed_deltas_add_up_to_the_final_text(
    recorded: BatchingEngine, questions: list[str]
) -> None:
    params = SamplingParams(
        max_new_tokens=20, repetition_penalty=1.15, stop=STOP_SEQUENCES, trim_whitespace=True
    )

    async def run() -> tuple[str, Finished]:
        handle = recorded.submit(recorded.encode(build_prompt(questions[1])), params)
        text = ""
        async for event in handle.events():
            if isinstance(event, TextDelta):
                text += event.text
            else:
                return text, event
        raise AssertionError("no final event")

    streamed, final = asyncio.run(run())
    assert streamed == final.text
    assert final.text == final.text.strip()
    assert final.time_to_first_token is not None and final.time_to_first_token > 0


def test_cancel_frees_the_slot(recorded: BatchingEngine) -> None:
    async def run() -> Finished:
        handle = recorded.submit(
            recorded.encode("MyElite"), SamplingParams(max_new_tokens=400, ignore_eos=True)
        )
        async for event in handle.events():
            if isinstance(event, TextDelta):
                handle.cancel()
                break
        assert handle.finished is None or handle.finished.finish_reason == "cancelled"
        while handle.finished is None:
            await asyncio.sleep(0.01)
        return handle.finished

    final = asyncio.run(run())
    assert final.finish_reason == "cancelled"
    assert final.completion_tokens < 400
    _wait_until_idle(recorded)
