"""Evaluation: eval loss, and answer accuracy by generating the way the service answers.

Accuracy asks the model each question in the shared prompt format
(``myretail_common.prompt.build_prompt``) and generates as ``POST /generate`` does
(:class:`ServingParameters`): greedy, the same repetition penalty over the prompt and the
answer so far (never over padding), stopping at any of the model's end-of-sequence
tokens, in bf16 where the model is served in bf16; the answer is cut at the stop
sequences (``extract_answer``) and counted correct when it contains the reference's key
fact (:func:`myretail_finetune.data.key_facts`), case- and space-insensitively. So the
gate measures what is served.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from typing import Any

from myretail_common.prompt import build_prompt, extract_answer
from myretail_finetune.config import SERVING_REPETITION_PENALTY
from myretail_finetune.data import QADataset, contains_facts, key_facts

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingParameters:
    """How the inference service answers ``POST /generate`` (what the gate copies)."""

    repetition_penalty: float = SERVING_REPETITION_PENALTY
    max_new_tokens: int = 48
    autocast_dtype: Any = None  # torch.bfloat16 when the model is served in bf16 on a GPU


@dataclass
class AccuracyResult:
    accuracy: float
    correct: int
    total: int
    samples: list[dict[str, Any]] = field(default_factory=list)


def eos_token_ids(model: Any, tokenizer: Any) -> list[int]:
    """Every end-of-sequence token the model or tokenizer names (Llama 3: end of text and
    end of turn), as the serving engine stops on them all."""
    ids: list[int] = []
    for source in (getattr(model, "generation_config", None), model.config, tokenizer):
        value = getattr(source, "eos_token_id", None)
        for item in value if isinstance(value, list | tuple) else [value]:
            if isinstance(item, int) and item not in ids:
                ids.append(item)
    return ids


def encode_prompts(tokenizer: Any, questions: list[str]) -> Any:
    """The questions as a left-padded batch, special tokens (BOS) added as in serving."""
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        prompts = [build_prompt(question) for question in questions]
        return tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=True)
    finally:
        tokenizer.padding_side = padding_side


class PromptRepetitionPenalty:
    """The serving engine's repetition penalty as a ``generate`` logits processor.

    Penalises the tokens of each row's prompt and answer so far, but not its left
    padding: transformers' own processor would also penalise the pad token, which is the
    EOS token for Llama 3, and so make padded rows less likely to stop.
    """

    def __init__(self, penalty: float, attention_mask: Any) -> None:
        self.penalty = penalty
        self.prompt_length = attention_mask.shape[1]
        self.padding = self.prompt_length - attention_mask.sum(dim=-1)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        real = positions[None, :] >= self.padding[:, None].to(input_ids.device)
        # Padding columns repeat the row's last prompt token (always a real one).
        last_prompt = input_ids[:, self.prompt_length - 1 : self.prompt_length]
        tokens = torch.where(real, input_ids, last_prompt)
        seen = torch.zeros_like(scores, dtype=torch.bool).scatter_(1, tokens, True)
        penalized = torch.where(scores < 0, scores * self.penalty, scores / self.penalty)
        return torch.where(seen, penalized, scores)


def generate_answers(
    model: Any,
    tokenizer: Any,
    questions: list[str],
    batch_size: int = 32,
    serving: ServingParameters | None = None,
) -> list[str]:
    """Answers to ``questions`` generated as the service generates them."""
    import torch
    from transformers import GenerationConfig, LogitsProcessorList

    serving = serving or ServingParameters()
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    autocast: Any = contextlib.nullcontext()
    if serving.autocast_dtype is not None:
        autocast = torch.autocast(device.type, dtype=serving.autocast_dtype)
    # A config of its own: nothing from the model's generation_config (sampling, a
    # penalty of its own) changes how the gate generates.
    config = GenerationConfig(
        max_new_tokens=serving.max_new_tokens,
        do_sample=False,
        eos_token_id=eos_token_ids(model, tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        use_cache=True,
    )
    answers: list[str] = []
    try:
        for start in range(0, len(questions), batch_size):
            batch = encode_prompts(tokenizer, questions[start : start + batch_size]).to(device)
            penalty = PromptRepetitionPenalty(serving.repetition_penalty, batch["attention_mask"])
            with torch.no_grad(), autocast:
                output = model.generate(
                    **batch,
                    generation_config=config,
                    logits_processor=LogitsProcessorList([penalty]),
                )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            for row in tokenizer.batch_decode(
                new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False
            ):
                answers.append(extract_answer(row))
    finally:
        if was_training:
            model.train()
    return answers


def answer_accuracy(
    model: Any,
    tokenizer: Any,
    dataset: QADataset,
    batch_size: int = 32,
    serving: ServingParameters | None = None,
    max_examples: int | None = None,
    keep_samples: int = 5,
) -> AccuracyResult:
    """Share of questions whose served answer contains the key fact."""
    records = dataset.records[:max_examples] if max_examples else dataset.records
    answers = generate_answers(
        model, tokenizer, [r["prompt"] for r in records], batch_size, serving
    )
    correct = 0
    samples: list[dict[str, Any]] = []
    for record, answer in zip(records, answers, strict=True):
        facts = key_facts(record)
        ok = contains_facts(answer, facts)
        correct += ok
        if len(samples) < keep_samples:
            samples.append(
                {"question": record["prompt"], "answer": answer, "key_fact": facts, "ok": ok}
            )
    total = len(records)
    return AccuracyResult(correct / total if total else 0.0, correct, total, samples)
