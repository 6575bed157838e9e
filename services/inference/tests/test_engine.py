"""The continuous-batching engine itself: joins mid-flight, streaming text rules, seeds."""

from __future__ import annotations

import asyncio

import pytest

from myretail_common.prompt import STOP_SEQUENCES, build_prompt
from myretail_inference.engine import BatchingEngine, visible_text
from myretail_inference.engine_api import Finished, SamplingParams, TextDelta
from myretail_inference.loader import LoadedModel
from myretail_testkit.inference import (
    Recorder,
    join_mid_flight,
    start_engine,
    stream,
    wait_until_idle,
)


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
        {"top_k": -1},
        {"stop": ("",)},
    ):
        with pytest.raises(ValueError):
            SamplingParams(**bad)  # type: ignore[arg-type]


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
    # Join while the long request is decoding: the first joiner (6 tokens) is done
    # long before the second one arrives, so at most two rows ever share a pass.
    run = join_mid_flight(engine, prompts, long, short, join_after=(5, 15))
    assert run.joined_mid_flight  # both joiners were submitted mid-flight
    assert [r.text for r in run.together] == [r.text for r in run.alone]
    assert [r.finish_reason for r in run.together] == ["length", "length", "length"]
    decode_sizes = run.decode_sizes
    assert max(decode_sizes) == 2  # the joiners shared passes with the long request
    assert decode_sizes[-1] == 1  # ... and left the batch when they were done


def test_streamed_deltas_add_up_to_the_final_text(
    recorded: BatchingEngine, questions: list[str]
) -> None:
    params = SamplingParams(
        max_new_tokens=20, repetition_penalty=1.15, stop=STOP_SEQUENCES, trim_whitespace=True
    )

    streamed, final = stream(recorded, recorded.encode(build_prompt(questions[1])), params)
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
    wait_until_idle(recorded)
