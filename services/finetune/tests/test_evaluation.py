"""Evaluation memory: the loss without logits, and an eval batch that fits Llama 3's
128k-token vocabulary on the production GPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from myretail_finetune.config import FinetuneSettings
from myretail_finetune.data import load_dataset_file, tokenize_dataset
from myretail_finetune.modeling import load_model, load_tokenizer, resolve_base_model
from myretail_finetune.training import build_trainer, eval_loss, training_arguments
from myretail_testkit.llama3 import VOCAB_SIZE
from myretail_testkit.models import torch_threads
from myretail_testkit.project_files import LOYALTY_VAL

pytestmark = pytest.mark.slow

# What the loss of one eval batch may hold on the L4 (24 GB) beside the 4-bit 8B model.
EVAL_LOGITS_BUDGET_BYTES = 1.1 * 2**30


def test_qlora_eval_batch_fits_a_128k_vocabulary() -> None:
    hp = FinetuneSettings(profile="qlora").resolved()
    # The loss upcasts the logits of the whole batch to fp32.
    logits_bytes = hp.eval_batch_size * hp.max_seq_length * VOCAB_SIZE * 4
    assert logits_bytes <= EVAL_LOGITS_BUDGET_BYTES
    assert FinetuneSettings(profile="cpu").resolved().eval_batch_size == 32
    assert FinetuneSettings(profile="qlora", eval_batch_size=2).resolved().eval_batch_size == 2


def test_evaluation_keeps_no_logits(tiny_base: Path, tmp_path: Path) -> None:
    settings = FinetuneSettings(
        base_model=str(tiny_base), model_tag="t", eval_batch_size=4, max_steps=1
    )
    hp = settings.resolved()
    args = training_arguments(settings, hp, tmp_path / "out")
    assert args.prediction_loss_only
    assert args.per_device_eval_batch_size == 4
    ref = resolve_base_model(settings)
    tokenizer = load_tokenizer(settings, ref)
    val = tokenize_dataset(load_dataset_file("eval", str(LOYALTY_VAL)), tokenizer, 128)
    with torch_threads(1):
        model = load_model(settings, ref, hp)
        trainer = build_trainer(model, tokenizer, args, val, val.select(range(8)), [])
        output = trainer.evaluation_loop(
            trainer.get_eval_dataloader(), "evaluation", metric_key_prefix="eval"
        )
        loss = eval_loss(trainer)
    assert output.predictions is None and output.label_ids is None
    assert output.metrics["eval_loss"] > 0 and loss > 0
