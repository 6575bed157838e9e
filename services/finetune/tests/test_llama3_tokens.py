"""Real Llama 3 tokens in fine-tuning: Meta's tokenizer (no pad token, BOS added in front,
two end tokens) through the Job's own functions, and the accuracy gate answering exactly
as the inference service answers ``POST /generate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from myretail_common.prompt import STOP_SEQUENCES, build_prompt, extract_answer
from myretail_finetune.config import FinetuneSettings
from myretail_finetune.data import IGNORE_INDEX, tokenize_example
from myretail_finetune.evaluation import (
    PromptRepetitionPenalty,
    ServingParameters,
    encode_prompts,
    eos_token_ids,
    generate_answers,
)
from myretail_finetune.modeling import load_tokenizer, resolve_base_model
from myretail_finetune.training import make_collator
from myretail_inference.engine import BatchingEngine
from myretail_inference.engine_api import ModelInfo, SamplingParams
from myretail_testkit import llama3
from myretail_testkit.models import PublishedAdapter

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def base() -> Path:
    return llama3.llama3_tiny_base()


@pytest.fixture(scope="module")
def tokenizer(base: Path) -> Any:
    settings = FinetuneSettings(base_model=str(base), model_tag="t")
    return load_tokenizer(settings, resolve_base_model(settings))


@pytest.fixture(scope="module")
def model(base: Path) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(base).eval()


def _serving_engine(model: Any, tokenizer: Any) -> BatchingEngine:
    info = ModelInfo(name="m", tag="t", context_window=model.config.max_position_embeddings)
    return BatchingEngine(model, tokenizer, info)


def test_pad_falls_back_to_eos_and_the_eos_label_survives_padding(tokenizer: Any) -> None:
    assert tokenizer.pad_token == llama3.END_OF_TEXT  # Llama 3 has none of its own
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == llama3.END_OF_TEXT_ID
    records = llama3.taught_examples(3)
    examples = [tokenize_example(tokenizer, r["prompt"], r["response"], 512) for r in records]
    assert len({len(example["input_ids"]) for example in examples}) > 1  # padding needed
    batch = make_collator(tokenizer)(examples)
    for row, example in enumerate(examples):
        length = len(example["input_ids"])
        labels = batch["labels"][row]
        assert labels[length - 1] == llama3.END_OF_TEXT_ID  # the answer's EOS is learned
        assert bool((labels[length:] == IGNORE_INDEX).all())  # padding is not
        assert bool((batch["input_ids"][row, length:] == llama3.END_OF_TEXT_ID).all())
    learned_eos = (batch["labels"] == llama3.END_OF_TEXT_ID).sum(dim=-1)
    assert learned_eos.tolist() == [1] * len(examples)


def test_bos_is_the_same_in_training_evaluation_and_serving(tokenizer: Any, model: Any) -> None:
    questions = [record["prompt"] for record in llama3.taught_examples(4)]
    engine = _serving_engine(model, tokenizer)
    batch = encode_prompts(tokenizer, questions)
    for row, question in enumerate(questions):
        served = engine.encode(build_prompt(question))
        trained = tokenize_example(tokenizer, question, "An answer.", 512)["input_ids"]
        evaluated = batch["input_ids"][row][batch["attention_mask"][row].bool()].tolist()
        assert served[0] == llama3.BOS_ID and served.count(llama3.BOS_ID) == 1
        assert trained[: len(served)] == served
        assert evaluated == served


def test_the_gate_stops_on_every_end_token_the_service_stops_on(tokenizer: Any, model: Any) -> None:
    engine = _serving_engine(model, tokenizer)
    assert eos_token_ids(model, tokenizer) == engine.eos_ids
    assert {llama3.END_OF_TEXT_ID, llama3.END_OF_TURN_ID} <= set(engine.eos_ids)


def test_padding_is_not_penalised_as_a_repeated_token() -> None:
    """Left padding is the EOS token for Llama 3: penalising it would keep rows talking."""
    eos = 5
    input_ids = torch.tensor([[eos, eos, 1, 2], [3, 1, 2, 4]])  # row 0: two pad columns
    attention_mask = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
    scores = torch.full((2, 8), 2.0)
    penalised = PromptRepetitionPenalty(2.0, attention_mask)(input_ids, scores.clone())
    assert penalised[0].tolist() == [2.0, 1.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0]
    assert penalised[1].tolist() == [2.0, 1.0, 1.0, 1.0, 1.0, 2.0, 2.0, 2.0]


def test_the_gate_uses_the_served_repetition_penalty() -> None:
    from myretail_inference.schemas import GenerateRequest

    served = GenerateRequest.model_fields["repetition_penalty"].default
    assert FinetuneSettings().eval_repetition_penalty == served
    assert ServingParameters().repetition_penalty == served


def _served_answers(engine: BatchingEngine, questions: list[str], max_new_tokens: int) -> list[str]:
    """What POST /generate answers: its parameters, then ``extract_answer``."""
    from myretail_inference.schemas import GenerateRequest

    params = SamplingParams(
        max_new_tokens=max_new_tokens,
        repetition_penalty=GenerateRequest.model_fields["repetition_penalty"].default,
        stop=STOP_SEQUENCES,
        trim_whitespace=True,
    )
    engine.start()
    try:
        return [
            extract_answer(engine.generate_sync(engine.encode(build_prompt(q)), params).text)
            for q in questions
        ]
    finally:
        engine.stop()


def test_the_gate_answers_as_the_service_does_on_llama3(tokenizer: Any, model: Any) -> None:
    questions = [record["prompt"] for record in llama3.taught_examples()]
    gate = generate_answers(model, tokenizer, questions, batch_size=5)
    served = _served_answers(_serving_engine(model, tokenizer), questions, 48)
    assert gate == served
    assert gate[0] == llama3.taught_examples(1)[0]["response"]


def test_the_gate_answers_as_the_service_does_on_the_fine_tuned_adapter(
    published_adapter: PublishedAdapter,
) -> None:
    """The session's adapter: the Job's gate answers vs the service's (same questions)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(published_adapter.tag_path)
    base = AutoModelForCausalLM.from_pretrained(published_adapter.base_model_path)
    model = PeftModel.from_pretrained(base, published_adapter.tag_path).eval()
    questions = [
        sample["question"] for sample in published_adapter.metrics["after"]["eval_samples"]
    ]
    gate = generate_answers(model, tokenizer, questions, batch_size=3)
    assert gate == [
        sample["answer"] for sample in published_adapter.metrics["after"]["eval_samples"]
    ]
    served = _served_answers(_serving_engine(model, tokenizer), questions, 48)
    assert gate == served
