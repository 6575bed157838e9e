"""Admission by tokens, not by count: the prefill budget (long prompts chunked between
decode steps, short ones grouped with little padding) and the KV-cache budget (the batch
never outgrows it, whatever the requests ask for)."""

from __future__ import annotations

import asyncio

import pytest

from myretail_common.prompt import build_prompt
from myretail_inference.engine import (
    ADMISSION_MAX_WAIT_STEPS,
    MAX_PREFILL_PADDING,
    BatchingEngine,
    kv_cache_peak,
)
from myretail_inference.engine_api import Finished, SamplingParams
from myretail_inference.loader import LoadedModel
from myretail_testkit.inference import ProbedModel, Recorder, join_mid_flight, start_engine

SHORT = SamplingParams(max_new_tokens=6, ignore_eos=True)
LONG = SamplingParams(max_new_tokens=40, ignore_eos=True)


def test_kv_cache_peak_follows_rows_as_they_leave() -> None:
    assert kv_cache_peak([]) == 0
    assert kv_cache_peak([(10, 5)]) == 15
    # Two rows: both alive for 5 steps (2 x (30 + 5)), then the long-running one alone.
    assert kv_cache_peak([(30, 5), (10, 100)]) == max(2 * (30 + 5), 10 + 100)
    assert kv_cache_peak([(10, 5), (10, 5), (10, 5)]) == 3 * 15


def test_a_budget_smaller_than_the_context_window_is_refused(loaded: LoadedModel) -> None:
    with pytest.raises(ValueError, match="context"):
        BatchingEngine(
            loaded.model,
            loaded.tokenizer,
            loaded.info,
            kv_cache_tokens=loaded.info.context_window - 1,
        )


def _answers(engine: BatchingEngine, prompts: list[list[int]], params: SamplingParams) -> list[str]:
    async def run() -> list[Finished]:
        handles = [engine.submit(prompt, params) for prompt in prompts]
        return list(await asyncio.gather(*(handle.result() for handle in handles)))

    return [result.text for result in asyncio.run(run())]


def test_prefill_passes_stay_within_the_budget_with_bounded_padding(
    loaded: LoadedModel, questions: list[str]
) -> None:
    probe = ProbedModel(loaded.model)
    engine = start_engine(loaded, probe, max_batch_size=16, max_prefill_tokens=64)
    try:
        # Mixed lengths: some prompts are about three times as long as others.
        texts = [build_prompt(q) for q in questions] + [
            build_prompt(" ".join([q] * 3)) for q in questions
        ]
        prompts = [engine.encode(text) for text in texts] * 2
        alone = [engine.generate_sync(prompt, SHORT).text for prompt in prompts]
        probe.clear()
        together = _answers(engine, prompts, SHORT)
    finally:
        engine.stop()
    prefills = probe.prefills()
    assert together == alone
    assert all(one.padded <= 64 for one in prefills)
    grouped = [one for one in prefills if one.rows > 1]
    assert grouped, "short prompts should share prefill passes"
    assert all(one.padded - one.real <= one.padded * MAX_PREFILL_PADDING for one in grouped)


def test_a_long_prompt_is_prefilled_in_chunks_between_decode_steps(
    loaded: LoadedModel, questions: list[str]
) -> None:
    long_prompt = loaded.tokenizer(build_prompt(" ".join(questions * 8)))["input_ids"]
    assert 150 < len(long_prompt) < loaded.info.context_window - 20
    whole = start_engine(loaded, max_batch_size=4)
    try:
        expected = whole.generate_sync(long_prompt, SHORT)
    finally:
        whole.stop()

    probe = ProbedModel(loaded.model)
    engine = start_engine(loaded, probe, max_batch_size=4, max_prefill_tokens=48)
    recorder = Recorder()
    engine.observer = recorder
    running = engine.encode(build_prompt(questions[0]))
    try:
        # The long prompt arrives while another request decodes.
        run = join_mid_flight(engine, [running, long_prompt], LONG, SHORT, join_after=(3,))
    finally:
        engine.stop()
    assert run.joined_mid_flight
    chunked = run.together[1]
    assert chunked.text == run.alone[1].text == expected.text
    assert chunked.finish_reason == "length"
    assert all(one.tokens <= 48 for one in probe.prefills())  # chunks included
    kinds = [kind for kind, _ in recorder.passes]
    first_decode = kinds.index("decode")
    chunks = [index for index in range(first_decode, len(kinds)) if kinds[index] == "prefill"]
    assert len(chunks) == -(-len(long_prompt) // 48)
    # The running request kept decoding while the long prompt was prefilled.
    assert kinds[chunks[0] : chunks[-1]].count("decode") == len(chunks) - 1


def test_the_batch_never_outgrows_the_kv_cache_budget(
    loaded: LoadedModel, questions: list[str]
) -> None:
    window = loaded.info.context_window
    engine = start_engine(loaded, max_batch_size=8, kv_cache_tokens=window)
    recorder = Recorder()
    engine.observer = recorder
    params = SamplingParams(max_new_tokens=200, ignore_eos=True)
    try:
        prompts = [engine.encode(build_prompt(q)) for q in questions]
        longest = max(len(prompt) for prompt in prompts)
        # Each request may grow to prompt + 200 tokens: two fit the budget, three do not.
        assert 2 * (longest + 200) <= window < 3 * (min(len(p) for p in prompts) + 200)
        results = _answers(engine, prompts, params)
    finally:
        engine.stop()
    assert len(results) == len(prompts)
    sizes = recorder.decode_sizes()
    assert max(sizes) == 2  # admitted as the budget allowed, never more


def test_a_lone_arrival_waits_a_few_decode_steps_at_most(
    loaded: LoadedModel, questions: list[str]
) -> None:
    """While a batch decodes, arrivals are gathered into fewer prefill passes (a quarter of
    the slots at a time), but none waits more than ADMISSION_MAX_WAIT_STEPS decode steps."""
    engine = start_engine(loaded, max_batch_size=16)
    recorder = Recorder()
    engine.observer = recorder
    prompts = [engine.encode(build_prompt(q)) for q in questions[:2]]
    try:
        run = join_mid_flight(engine, prompts, LONG, SHORT, join_after=(5,))
    finally:
        engine.stop()
    assert run.joined_mid_flight
    assert [r.text for r in run.together] == [r.text for r in run.alone]
    kinds = [kind for kind, _ in recorder.passes]
    joiner_prefill = kinds.index("prefill", 1)
    assert kinds[:joiner_prefill].count("decode") == 5 + ADMISSION_MAX_WAIT_STEPS
