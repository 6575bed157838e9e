"""The supervised fine-tuning run: a transformers ``Trainer`` over loss-masked examples.

Examples come from :mod:`.data` already tokenized with the prompt tokens labelled
``-100``, so the loss covers the answer (and its EOS) only; ``DataCollatorForSeq2Seq``
pads each batch to its longest example. The Trainer owns the loop, the optimizer, the
scheduler and checkpoint contents (optimizer, scheduler, RNG, data position); the
callbacks of :mod:`.checkpointing` and :mod:`.progress` add complete markers, SIGTERM
handling and progress output.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from myretail_finetune.config import FinetuneSettings, HyperParameters
from myretail_finetune.distributed import BatchSplit, split_batch

logger = logging.getLogger(__name__)


def training_arguments(
    settings: FinetuneSettings,
    hp: HyperParameters,
    output_dir: Path,
    batch: BatchSplit | None = None,
) -> Any:
    """The Trainer's arguments. Under torchrun the Trainer reads WORLD_SIZE/RANK/LOCAL_RANK
    itself and wraps the model in DistributedDataParallel; ``batch`` is this process's share
    of the configured effective batch (default: one process, all of it)."""
    from transformers import TrainingArguments

    batch = batch or split_batch(hp.batch_size, hp.gradient_accumulation_steps, 1)
    on_gpu = settings.profile == "qlora"
    return TrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=batch.per_device,
        per_device_eval_batch_size=hp.eval_batch_size,
        # Evaluation keeps the loss only: gathered logits would be batch x length x vocab
        # (128256 for Llama 3) floats per step, on the GPU.
        prediction_loss_only=True,
        gradient_accumulation_steps=batch.gradient_accumulation_steps,
        ddp_backend=("nccl" if on_gpu else "gloo") if batch.world_size > 1 else None,
        # LoRA trains every adapter on every step; the search for unused ones costs a pass.
        ddp_find_unused_parameters=False if batch.world_size > 1 else None,
        # Each process's loss is its own batch's token mean, averaged over processes by DDP
        # (in training) and over batches (in evaluation), as one process averages over
        # accumulated micro-batches: the eval loss of N processes is the one of one process.
        average_tokens_across_devices=False,
        max_steps=hp.max_steps if hp.max_steps is not None else -1,
        num_train_epochs=hp.num_train_epochs,
        learning_rate=hp.learning_rate,
        lr_scheduler_type=hp.lr_scheduler_type,
        warmup_steps=hp.warmup_ratio,
        weight_decay=hp.weight_decay,
        optim=hp.optimizer,
        activation_checkpointing=hp.gradient_checkpointing,
        bf16=on_gpu,
        use_cpu=not on_gpu,
        logging_strategy="steps",
        logging_steps=hp.logging_steps,
        save_strategy="steps",
        save_steps=settings.checkpoint_steps,
        save_total_limit=None,  # pruning of *complete* checkpoints is ours
        eval_strategy="no",
        include_num_input_tokens_seen="non_padding",
        seed=hp.seed,
        data_seed=hp.seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        log_level="warning",
    )


def make_collator(tokenizer: Any) -> Any:
    """Pads each batch to its longest example: inputs with the pad token (the EOS token
    when the tokenizer has none, as Llama 3's), labels with -100. The labels come from the
    examples themselves, so the EOS that ends every answer keeps its label (a collator
    that derives labels from ``input_ids != pad`` would mask it and the model would never
    learn to stop)."""
    from transformers import DataCollatorForSeq2Seq

    return DataCollatorForSeq2Seq(
        tokenizer, padding=True, label_pad_token_id=-100, return_tensors="pt"
    )


def build_trainer(
    model: Any,
    tokenizer: Any,
    args: Any,
    train_dataset: Any,
    eval_dataset: Any,
    callbacks: list[Any],
) -> Any:
    from transformers import PrinterCallback, Trainer

    trainer = Trainer(
        model=model,
        args=args,
        data_collator=make_collator(tokenizer),
        train_dataset=train_dataset,
        eval_dataset=eval_dataset,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    # Our ProgressCallback prints the progress lines; the stock printer would duplicate them.
    trainer.remove_callback(PrinterCallback)
    return trainer


def finished_checkpoint(checkpoint: Path, args: Any) -> bool:
    """True when ``checkpoint`` is the end of this run (nothing left to train)."""
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    same_length = args.max_steps <= 0 or args.max_steps == state.get("max_steps")
    return bool(same_length and state["global_step"] >= state.get("max_steps", 0) > 0)


def train(trainer: Any, resume: Path | None) -> None:
    """Train, resuming from ``resume``; a finished checkpoint is only loaded.

    (``Trainer.train`` resumed at the last step would run one step past ``max_steps``.)
    """
    if resume is not None and finished_checkpoint(resume, trainer.args):
        from transformers import TrainerState

        trainer._load_from_checkpoint(str(resume))
        trainer.state = TrainerState.load_from_json(str(resume / "trainer_state.json"))
        logger.info("training already complete in checkpoint", extra={"checkpoint": str(resume)})
        return
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)


def eval_loss(trainer: Any) -> float:
    """The validation loss; under several processes each evaluates its own part of the set.

    Without ``even_batches`` the last process's part is not topped up with examples from
    the start of the set, which would count those twice: N processes then see the very
    batches one process sees, and report the same loss.
    """
    accelerator = trainer.accelerator
    even_batches = accelerator.even_batches
    accelerator.even_batches = False
    try:
        metrics = trainer.evaluate()
    finally:
        accelerator.even_batches = even_batches
    return float(metrics["eval_loss"])


def save_result(model: Any, tokenizer: Any, method: str, out_dir: Path) -> None:
    """Write the adapter (lora: peft's files) or the full weights (full), and the tokenizer."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.config.use_cache = True
    model.save_pretrained(out_dir, safe_serialization=True)
    if method == "full" and getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
