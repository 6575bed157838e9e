"""Real Llama 3 tokens through the engine, on a Llama-3-shaped model with an unmerged LoRA.

Meta's tokenizer (from the ``llama-models`` wheel) and a tiny model with Llama 3 8B's
shape (GQA, untied embeddings, 128256 tokens, rope theta 500000, bf16 where the CPU has
it) that learned a few loyalty answers ending in ``<|end_of_text|>`` or ``<|eot_id|>``
(:mod:`myretail_testkit.llama3`), served through the service's own loader with the LoRA
left unmerged. On a CUDA machine (``ci/gpu-checks.sh``) the same tests run on the GPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from myretail_common.prompt import build_prompt
from myretail_inference.engine import BatchingEngine
from myretail_inference.engine_api import SamplingParams
from myretail_inference.loader import LoadedModel, load_model
from myretail_testkit import llama3
from myretail_testkit.inference import (
    Recorder,
    cuda_expected,
    join_mid_flight,
    make_settings,
    need_cuda,
    start_engine,
    stream,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def llama3_loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    published = llama3.publish_llama3_adapter(tmp_path_factory.mktemp("llama3-store"))
    cache: Path = tmp_path_factory.mktemp("llama3-cache")
    # dtype "auto" named here, so that a DTYPE in the environment cannot change it.
    return load_model(make_settings(published, cache, merge_adapter=False, dtype="auto"))


@pytest.fixture(scope="module")
def llama3_engine(llama3_loaded: LoadedModel) -> Iterator[BatchingEngine]:
    engine = start_engine(llama3_loaded, max_batch_size=4, max_queue_size=8)
    engine.observer = Recorder()
    yield engine
    engine.stop()


@pytest.fixture(scope="module")
def taught() -> list[dict[str, str]]:
    return llama3.taught_examples()


def _prompt(engine: BatchingEngine, record: dict[str, str]) -> list[int]:
    return engine.encode(build_prompt(record["prompt"]))


def test_the_served_model_is_llama3_shaped_with_an_unmerged_lora(
    llama3_loaded: LoadedModel,
) -> None:
    from peft import PeftModel

    model = llama3_loaded.model
    assert isinstance(model, PeftModel)  # MERGE_ADAPTER=false: the LoRA stays separate
    config = model.config
    assert config.vocab_size == llama3.VOCAB_SIZE == len(llama3_loaded.tokenizer)
    assert config.num_key_value_heads < config.num_attention_heads  # grouped-query attention
    assert not config.tie_word_embeddings
    assert config.rope_parameters["rope_theta"] == llama3.ROPE_THETA
    expected_dtype = torch.bfloat16
    if not torch.cuda.is_available():
        expected_dtype = llama3.preferred_cpu_dtype()
    assert model.get_input_embeddings().weight.dtype == expected_dtype
    if cuda_expected():
        assert llama3_loaded.info.device == "cuda"
    ids = llama3_loaded.tokenizer("MyElite tiers", return_tensors="pt")["input_ids"]
    ids = ids.to(model.device)
    with torch.inference_mode():
        adapted = model(ids).logits
        with model.disable_adapter():
            base = model(ids).logits
    assert not torch.equal(adapted, base)  # the adapter takes part in every forward pass


def test_bos_is_added_once(llama3_engine: BatchingEngine, taught: list[dict[str, str]]) -> None:
    ids = _prompt(llama3_engine, taught[0])
    assert ids[0] == llama3.BOS_ID and ids.count(llama3.BOS_ID) == 1


@pytest.mark.parametrize("index", [0, 1], ids=["end_of_text", "eot_id"])
def test_generation_stops_on_either_end_token(
    llama3_engine: BatchingEngine, taught: list[dict[str, str]], index: int
) -> None:
    record = taught[index]
    assert record["end"] == (llama3.END_OF_TEXT if index == 0 else llama3.END_OF_TURN)
    answer_ids = llama3_engine.tokenizer(record["response"], add_special_tokens=False)["input_ids"]
    result = llama3_engine.generate_sync(
        _prompt(llama3_engine, record), SamplingParams(max_new_tokens=len(answer_ids) + 20)
    )
    assert result.finish_reason == "stop"
    assert result.text == record["response"]  # the end token itself adds no text
    assert result.completion_tokens == len(answer_ids) + 1


def test_ignore_eos_blocks_both_end_tokens(
    llama3_engine: BatchingEngine, taught: list[dict[str, str]]
) -> None:
    for record in taught[:2]:
        answer_ids = llama3_engine.tokenizer(record["response"], add_special_tokens=False)
        limit = len(answer_ids["input_ids"]) + 6
        result = llama3_engine.generate_sync(
            _prompt(llama3_engine, record), SamplingParams(max_new_tokens=limit, ignore_eos=True)
        )
        assert result.finish_reason == "length"
        assert result.completion_tokens == limit
        assert result.text.startswith(record["response"])


def test_stop_strings_split_across_tokens_are_found(
    llama3_engine: BatchingEngine, taught: list[dict[str, str]]
) -> None:
    record = taught[0]
    tokenizer = llama3_engine.tokenizer
    pieces = [
        tokenizer.decode([token])
        for token in tokenizer(record["response"], add_special_tokens=False)["input_ids"]
    ]
    # A stop sequence made of the end of one token and the start of the next.
    cut = next(i for i in range(2, len(pieces)) if len(pieces[i - 1]) >= 3 and len(pieces[i]) >= 3)
    stop = pieces[cut - 1][-2:] + pieces[cut][:2]
    assert stop not in pieces[cut - 1] and stop not in pieces[cut]
    expected = record["response"][: record["response"].index(stop)]

    params = SamplingParams(max_new_tokens=40, stop=(stop,))
    streamed, final = stream(llama3_engine, _prompt(llama3_engine, record), params)
    assert final.finish_reason == "stop"
    assert final.text == expected == streamed  # nothing of the stop sequence was shown


def test_requests_join_and_leave_and_greedy_equals_one_at_a_time(
    llama3_engine: BatchingEngine, taught: list[dict[str, str]]
) -> None:
    prompts = [_prompt(llama3_engine, record) for record in taught[3:6]]
    first = SamplingParams(max_new_tokens=48, ignore_eos=True)
    joiners = SamplingParams(max_new_tokens=40)  # they leave at their own end token
    run = join_mid_flight(llama3_engine, prompts, first, joiners, join_after=(3, 20))
    assert run.joined_mid_flight
    assert [r.text for r in run.together] == [r.text for r in run.alone]
    assert [r.finish_reason for r in run.together] == ["length", "stop", "stop"]
    assert run.together[1].text == taught[4]["response"]
    assert max(run.decode_sizes) == 2 and run.decode_sizes[-1] == 1


def test_kv_cache_budget_comes_from_free_gpu_memory(llama3_engine: BatchingEngine) -> None:
    need_cuda()
    free, _ = torch.cuda.mem_get_info()
    budget = llama3_engine.stats()["kv_cache_tokens"]
    assert llama3_engine.info.context_window <= budget
    assert budget * llama3_engine.kv_bytes_per_token <= free + torch.cuda.memory_reserved()
