"""Evaluation: eval loss, and answer accuracy by greedy generation.

Accuracy asks the model each question in the shared prompt format
(``myretail_common.prompt.build_prompt``), decodes greedily, cuts the answer at the stop
sequences (``extract_answer``) and counts it correct when it contains the reference's
key fact (:func:`myretail_finetune.data.key_facts`), case- and space-insensitively.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from myretail_common.prompt import build_prompt, extract_answer
from myretail_finetune.data import QADataset, contains_facts, key_facts

logger = logging.getLogger(__name__)


@dataclass
class AccuracyResult:
    accuracy: float
    correct: int
    total: int
    samples: list[dict[str, Any]] = field(default_factory=list)


def generate_answers(
    model: Any,
    tokenizer: Any,
    questions: list[str],
    batch_size: int = 32,
    max_new_tokens: int = 48,
) -> list[str]:
    """Greedy answers to ``questions`` (prompt built with the shared prompt function)."""
    import torch

    was_training = model.training
    model.eval()
    padding_side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    device = next(model.parameters()).device
    answers: list[str] = []
    try:
        for start in range(0, len(questions), batch_size):
            prompts = [build_prompt(q) for q in questions[start : start + batch_size]]
            batch = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
            with torch.no_grad():
                output = model.generate(
                    **batch,
                    max_new_tokens=max_new_tokens,
                    do_sample=False,
                    eos_token_id=tokenizer.eos_token_id,
                    pad_token_id=tokenizer.pad_token_id,
                    use_cache=True,
                )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            for row in tokenizer.batch_decode(new_tokens, skip_special_tokens=True):
                answers.append(extract_answer(row))
    finally:
        tokenizer.padding_side = padding_side
        if was_training:
            model.train()
    return answers


def answer_accuracy(
    model: Any,
    tokenizer: Any,
    dataset: QADataset,
    batch_size: int = 32,
    max_new_tokens: int = 48,
    max_examples: int | None = None,
    keep_samples: int = 5,
) -> AccuracyResult:
    """Share of questions whose greedy answer contains the key fact."""
    records = dataset.records[:max_examples] if max_examples else dataset.records
    answers = generate_answers(
        model, tokenizer, [r["prompt"] for r in records], batch_size, max_new_tokens
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
