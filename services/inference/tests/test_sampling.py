"""Next-token choice for the whole batch on the device: greedy unchanged, seeded sampling
reproducible whoever shares the batch, and draws that follow the distribution asked for
(temperature, top-k, top-p), checked with a chi-square test at fixed seeds."""

from __future__ import annotations

import asyncio

import pytest
import torch

from myretail_common.prompt import build_prompt
from myretail_inference.engine import BatchingEngine
from myretail_inference.engine_api import Finished, SamplingParams
from myretail_inference.loader import LoadedModel
from myretail_inference.sampling import RowSampling, uniforms
from myretail_testkit.inference import start_engine

# Chi-square critical values at p = 0.001 (a correct sampler fails 1 time in 1000 seeds;
# the seeds are fixed, so the test is deterministic).
CHI2_CRITICAL = {1: 10.83, 2: 13.82, 3: 16.27, 4: 18.47}
# The sampler runs where the model runs: on a GPU when there is one (ci/gpu-checks.sh).
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
LOGITS = torch.tensor([2.0, 1.3, 0.8, 0.4, -1.0], device=DEVICE)
NO_EOS = torch.tensor([], dtype=torch.long, device=DEVICE)


def _rows(params: SamplingParams, count: int, seeds: list[int] | None = None) -> RowSampling:
    seeds = seeds if seeds is not None else list(range(1000, 1000 + count))
    return RowSampling.build([params] * count, seeds, DEVICE)


def _draw(params: SamplingParams, logits: torch.Tensor, count: int = 4000) -> torch.Tensor:
    """``count`` draws: rows with different seeds, each at a different step."""
    rows = _rows(params, count)
    batch = logits.repeat(count, 1)
    seen = torch.zeros(batch.shape, dtype=torch.bool, device=DEVICE)
    counters = torch.arange(count, dtype=torch.long, device=DEVICE)
    return rows.choose(batch, counters, seen, NO_EOS).cpu()


def _chi_square(tokens: torch.Tensor, expected: torch.Tensor) -> tuple[float, int]:
    """Statistic and degrees of freedom; tokens of probability 0 must never appear."""
    expected = expected.cpu()
    counts = torch.bincount(tokens.cpu(), minlength=len(expected)).double()
    assert counts[expected == 0].sum() == 0, f"impossible tokens drawn: {counts}"
    support = expected > 0
    wanted = expected[support].double() * len(tokens)
    statistic = float(((counts[support] - wanted) ** 2 / wanted).sum())
    return statistic, int(support.sum()) - 1


def _assert_follows(tokens: torch.Tensor, expected: torch.Tensor) -> None:
    statistic, freedom = _chi_square(tokens, expected)
    assert statistic < CHI2_CRITICAL[freedom], (statistic, torch.bincount(tokens))


def test_random_numbers_are_uniform_and_a_pure_function_of_seed_and_step() -> None:
    seeds = torch.arange(50_000, device=DEVICE) * 7919 + (1 << 40)
    steps = torch.arange(50_000, device=DEVICE) % 97
    numbers = uniforms(seeds, steps)
    assert bool(((numbers > 0) & (numbers < 1)).all())
    assert abs(float(numbers.mean()) - 0.5) < 0.005
    assert abs(float(numbers.var()) - 1 / 12) < 0.002
    assert torch.equal(numbers, uniforms(seeds, steps))
    # One seed over consecutive steps, and neighbouring seeds at one step: unrelated.
    one_seed = uniforms(
        torch.full((20_000,), 42, device=DEVICE), torch.arange(20_000, device=DEVICE)
    )
    for series in (one_seed, numbers):
        lagged = torch.corrcoef(torch.stack([series[:-1], series[1:]]))[0, 1]
        assert abs(float(lagged)) < 0.03


def test_temperature_one_follows_the_softmax() -> None:
    tokens = _draw(SamplingParams(temperature=1.0), LOGITS)
    _assert_follows(tokens, LOGITS.softmax(-1))


def test_temperature_sharpens_and_flattens() -> None:
    for temperature in (0.5, 2.0):
        tokens = _draw(SamplingParams(temperature=temperature), LOGITS)
        _assert_follows(tokens, (LOGITS / temperature).softmax(-1))


def test_top_k_keeps_the_k_best_renormalized() -> None:
    tokens = _draw(SamplingParams(temperature=1.0, top_k=2), LOGITS)
    expected = torch.zeros(5)
    expected[:2] = LOGITS[:2].softmax(-1)
    _assert_follows(tokens, expected)


def test_top_p_keeps_the_smallest_set_reaching_p() -> None:
    probabilities = LOGITS.softmax(-1)  # about [0.51, 0.25, 0.15, 0.10, 0.02]
    tokens = _draw(SamplingParams(temperature=1.0, top_p=0.7), LOGITS)
    expected = torch.zeros(5)
    expected[:2] = probabilities[:2] / probabilities[:2].sum()
    _assert_follows(tokens, expected)
    # Below the best token's probability only the best one is left.
    only_best = _draw(SamplingParams(temperature=1.0, top_p=0.3), LOGITS, count=200)
    assert set(only_best.tolist()) == {0}


def test_one_seed_over_many_steps_follows_the_softmax() -> None:
    count = 4000
    rows = _rows(SamplingParams(temperature=1.0), 1, seeds=[7])
    tokens = torch.cat(
        [
            rows.choose(
                LOGITS[None].clone(),
                torch.tensor([step], device=DEVICE),
                torch.zeros(1, 5, dtype=torch.bool, device=DEVICE),
                NO_EOS,
            )
            for step in range(count)
        ]
    )
    _assert_follows(tokens, LOGITS.softmax(-1))


def test_a_row_draws_the_same_whoever_shares_the_batch() -> None:
    sampled = SamplingParams(temperature=1.0, top_p=0.9)
    mixed = [SamplingParams(), sampled, SamplingParams(temperature=0.3, top_k=3), sampled]
    logits = torch.randn(4, 1000, generator=torch.Generator().manual_seed(0)).to(DEVICE)
    logits[3] = logits[1]
    seen = torch.zeros(4, 1000, dtype=torch.bool, device=DEVICE)
    counters = torch.tensor([3, 9, 3, 9], device=DEVICE)
    batch = RowSampling.build(mixed, [11, 42, 12, 42], DEVICE)
    tokens = batch.choose(logits.clone(), counters, seen, NO_EOS)
    alone = _rows(sampled, 1, seeds=[42]).choose(
        logits[1:2].clone(), counters[1:2], seen[1:2], NO_EOS
    )
    assert tokens[1] == alone[0] == tokens[3]  # same seed, step and logits: same token
    assert tokens[0] == logits[0].argmax()  # greedy rows stay greedy beside sampled ones


def test_greedy_is_the_argmax_after_the_repetition_penalty() -> None:
    logits = torch.tensor([[3.0, 2.9, -1.0, 0.5], [3.0, 2.9, -1.0, 0.5]], device=DEVICE)
    seen = torch.tensor([[True, False, False, False], [False] * 4], device=DEVICE)
    rows = RowSampling.build([SamplingParams(repetition_penalty=1.15)] * 2, [0, 0], DEVICE)
    counters = torch.zeros(2, dtype=torch.long, device=DEVICE)
    tokens = rows.choose(logits.clone(), counters, seen, NO_EOS)
    assert tokens.tolist() == [1, 0]  # 3.0 / 1.15 < 2.9: the seen token lost its lead


def test_ignore_eos_bans_the_end_tokens_of_its_row_only() -> None:
    logits = torch.tensor([[0.0, 5.0, 1.0, 4.0]] * 2, device=DEVICE)
    params = [SamplingParams(ignore_eos=True), SamplingParams()]
    rows = RowSampling.build(params, [0, 0], DEVICE)
    seen = torch.zeros(2, 4, dtype=torch.bool, device=DEVICE)
    counters = torch.zeros(2, dtype=torch.long, device=DEVICE)
    tokens = rows.choose(logits.clone(), counters, seen, torch.tensor([1, 3], device=DEVICE))
    assert tokens.tolist() == [2, 1]


# -- through the engine ------------------------------------------------------------------


@pytest.fixture(scope="module")
def sampler_engine(loaded: LoadedModel) -> BatchingEngine:
    engine = start_engine(loaded, max_batch_size=16, max_queue_size=1024)
    yield engine  # type: ignore[misc]
    engine.stop()


def test_greedy_answers_equal_transformers_generate(
    sampler_engine: BatchingEngine, loaded: LoadedModel, questions: list[str]
) -> None:
    """The engine's greedy decoding (repetition penalty included) is transformers' own."""
    for question in questions[:3]:
        prompt = sampler_engine.encode(build_prompt(question))
        ours = sampler_engine.generate_sync(
            prompt, SamplingParams(max_new_tokens=24, repetition_penalty=1.15)
        )
        with torch.inference_mode():
            output = loaded.model.generate(
                torch.tensor([prompt], device=loaded.model.device),
                max_new_tokens=24,
                do_sample=False,
                repetition_penalty=1.15,
                eos_token_id=sampler_engine.eos_ids,
                pad_token_id=sampler_engine.pad_id,
            )
        theirs = loaded.tokenizer.decode(output[0, len(prompt) :], skip_special_tokens=True)
        assert ours.text == theirs


def test_seeded_sampling_is_reproducible_alone_and_in_a_batch(
    sampler_engine: BatchingEngine, questions: list[str]
) -> None:
    # An open prompt (the fine-tuned model is nearly sure of its trained answers), then the
    # questions as the other requests in the batch.
    prompts = [sampler_engine.encode("MyElite members")]
    prompts += [sampler_engine.encode(build_prompt(q)) for q in questions]

    def seeded(seed: int) -> SamplingParams:
        return SamplingParams(
            max_new_tokens=16, temperature=1.0, top_p=0.95, seed=seed, ignore_eos=True
        )

    alone = [sampler_engine.generate_sync(prompts[0], seeded(seed)).text for seed in range(4)]
    again = sampler_engine.generate_sync(prompts[0], seeded(0)).text

    async def crowded() -> list[Finished]:
        # The seeded requests share the batch with greedy and unseeded ones.
        handles = [sampler_engine.submit(prompts[0], seeded(seed)) for seed in range(4)]
        others = [
            sampler_engine.submit(prompt, SamplingParams(max_new_tokens=16, temperature=0.8))
            for prompt in prompts[1:]
        ]
        others.append(sampler_engine.submit(prompts[1], SamplingParams(max_new_tokens=16)))
        results = await asyncio.gather(*(handle.result() for handle in handles + others))
        return list(results[: len(handles)])

    together = [result.text for result in asyncio.run(crowded())]
    assert again == alone[0]
    assert together == alone
    assert len(set(alone)) > 1  # different seeds, different answers


def test_temperature_zero_ignores_the_seed(
    sampler_engine: BatchingEngine, questions: list[str]
) -> None:
    prompt = sampler_engine.encode(build_prompt(questions[0]))
    answers = {
        sampler_engine.generate_sync(prompt, SamplingParams(max_new_tokens=12, seed=seed)).text
        for seed in (None, 1, 2)
    }
    assert len(answers) == 1


def test_sampled_tokens_follow_the_model_distribution(sampler_engine: BatchingEngine) -> None:
    """First tokens of many seeded requests vs the model's own next-token softmax."""
    model, tokenizer = sampler_engine.model, sampler_engine.tokenizer
    prompt = sampler_engine.encode(build_prompt("Which tiers does MyElite have?"))
    with torch.inference_mode():
        ids = torch.tensor([prompt], device=sampler_engine.device)
        probabilities = model(ids).logits[0, -1].float().softmax(-1)
    count = 600
    params = [
        SamplingParams(max_new_tokens=1, temperature=1.0, seed=seed, ignore_eos=True)
        for seed in range(count)
    ]

    async def first_texts() -> list[str]:
        handles = [sampler_engine.submit(prompt, p) for p in params]
        return [r.text for r in await asyncio.gather(*(h.result() for h in handles))]

    drawn = asyncio.run(first_texts())
    # The three likeliest tokens, and "anything else", as the categories.
    top = probabilities.topk(3).indices.tolist()
    names = [tokenizer.decode([token], skip_special_tokens=True) for token in top]
    assert len(set(names)) == 3
    expected = [float(probabilities[token]) for token in top]
    expected.append(1.0 - sum(expected))
    counts = [drawn.count(name) for name in names]
    counts.append(count - sum(counts))
    statistic = sum(
        (seen - p * count) ** 2 / (p * count) for seen, p in zip(counts, expected, strict=True)
    )
    assert statistic < CHI2_CRITICAL[3], (counts, [round(p * count) for p in expected])
