"""The fine-tune Job from settings to a published tag.

Order matters for clear, cheap failures: settings, store reachability and tag, datasets,
environment (CUDA for qlora), base model — all before any training. Then: evaluation
before training (kept with the checkpoints, so a resumed run reports it too), training
(resumed from the newest complete checkpoint), evaluation after training, the accuracy
gate, and an atomic publish. Nothing is published unless every step succeeded.

A run is identified by its inputs (:func:`myretail_finetune.publishing.run_fingerprint`,
recorded in the manifest). When the tag already holds *this* run — the pod was retried
after it published — the Job reports the published tag and succeeds; another run's tag
is refused unless forced.

Under torchrun (:mod:`.distributed`) every rank trains and computes the eval loss (both
collective); rank 0 alone measures answer accuracy, applies the gate, writes the baseline,
checkpoint markers and the published tag, and the other ranks end with its outcome.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from myretail_finetune.config import FinetuneSettings
from myretail_finetune.distributed import BatchSplit, Topology, split_batch
from myretail_finetune.errors import ConfigError, GateError, Interrupted
from myretail_finetune.progress import MetricsSink

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobResult:
    model_name: str
    tag: str
    tag_uri: str
    manifest: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        metrics: dict[str, Any] = self.manifest["metrics"]
        return metrics


def serving_parameters(settings: FinetuneSettings) -> Any:
    """How the service will answer with this model: what the accuracy gate copies."""
    from myretail_finetune.evaluation import ServingParameters

    autocast = None
    if settings.profile == "qlora":  # served in 4-bit with bf16 compute on a GPU
        import torch

        autocast = torch.bfloat16
    return ServingParameters(
        repetition_penalty=settings.eval_repetition_penalty,
        max_new_tokens=settings.eval_max_new_tokens,
        autocast_dtype=autocast,
    )


def _evaluate(
    settings: FinetuneSettings,
    trainer: Any,
    model: Any,
    tokenizer: Any,
    val: Any,
    train: Any,
    include_train: bool,
    topology: Topology,
) -> dict[str, Any]:
    """Eval loss (every rank takes part), then answer accuracy on rank 0 for all."""
    from myretail_finetune.training import eval_loss

    loss = eval_loss(trainer)
    return topology.share_outcome(
        lambda: _accuracy_metrics(settings, model, tokenizer, val, train, include_train, loss)
    )


def _accuracy_metrics(
    settings: FinetuneSettings,
    model: Any,
    tokenizer: Any,
    val: Any,
    train: Any,
    include_train: bool,
    loss: float,
) -> dict[str, Any]:
    from myretail_finetune.evaluation import answer_accuracy

    def accuracy(dataset: Any) -> Any:
        return answer_accuracy(
            model,
            tokenizer,
            dataset,
            batch_size=settings.resolved().eval_batch_size,
            serving=serving_parameters(settings),
            max_examples=settings.eval_max_examples,
        )

    metrics: dict[str, Any] = {"eval_loss": round(loss, 6)}
    val_accuracy = accuracy(val)
    metrics.update(
        eval_accuracy=round(val_accuracy.accuracy, 4),
        eval_correct=val_accuracy.correct,
        eval_examples=val_accuracy.total,
        eval_samples=val_accuracy.samples,
    )
    if include_train:
        train_accuracy = accuracy(train)
        metrics.update(
            train_accuracy=round(train_accuracy.accuracy, 4),
            train_correct=train_accuracy.correct,
            train_examples=train_accuracy.total,
        )
    return metrics


def _describe_metrics(metrics: dict[str, Any]) -> str:
    text = f"eval loss {metrics['eval_loss']:.4f}, val accuracy {metrics['eval_accuracy']:.0%}"
    if "train_accuracy" in metrics:
        text += f", train accuracy {metrics['train_accuracy']:.0%}"
    return text


def _batch_fields(batch: BatchSplit) -> dict[str, int]:
    """What the manifest and the start line record of the processes and their batches."""
    return {
        "world_size": batch.world_size,
        "per_device_batch_size": batch.per_device,
        "gradient_accumulation_steps": batch.gradient_accumulation_steps,
        "effective_batch_size": batch.effective,
    }


def _stop_reason(stop: Any) -> str:
    return stop.signal_name or "a signal to another training process"


def run_job(settings: FinetuneSettings) -> JobResult:
    """Fine-tune, evaluate, gate and publish; raises a ``FinetuneError`` on any problem."""
    started = time.monotonic()
    hp = settings.resolved()
    topology = Topology.from_env()
    batch = split_batch(hp.batch_size, hp.gradient_accumulation_steps, topology.world_size)
    tag = settings.tag()
    settings.base_model_spec()
    sink = MetricsSink(settings.metrics_file, quiet=not topology.is_main)
    options = settings.storage_options()

    from myretail_finetune.data import load_dataset_file
    from myretail_finetune.publishing import (
        PublishedRun,
        find_published_run,
        open_store,
        run_fingerprint,
        tag_exists,
    )

    store = open_store(settings.store_uri(), options)
    exists = tag_exists(store, settings.model_name, tag)
    train = load_dataset_file("train", settings.train_dataset_file, options)
    val = load_dataset_file("eval", settings.eval_dataset_file, options)
    run = PublishedRun(store, settings, tag, run_fingerprint(settings, hp, train, val))
    if exists:
        published = find_published_run(run)
        if published is not None:
            sink.write(
                "summary",
                f"{run.tag_uri} already holds this run (a retry after it was published): "
                "nothing to do",
                tag_uri=run.tag_uri,
                already_published=True,
            )
            return JobResult(settings.model_name, tag, run.tag_uri, published)

    import datasets
    from transformers import set_seed

    from myretail_finetune.checkpointing import (
        CheckpointCallback,
        CheckpointLocation,
        GracefulStop,
    )
    from myretail_finetune.data import tokenize_dataset
    from myretail_finetune.modeling import (
        check_environment,
        load_model,
        load_tokenizer,
        parameter_counts,
        resolve_base_model,
    )
    from myretail_finetune.progress import ProgressCallback
    from myretail_finetune.publishing import build_manifest, publish_trained
    from myretail_finetune.training import build_trainer, training_arguments
    from myretail_finetune.training import train as train_model

    datasets.disable_progress_bars()
    check_environment(settings)
    if settings.profile == "cpu" and settings.cpu_threads:
        import torch

        torch.set_num_threads(settings.cpu_threads)
    ref = resolve_base_model(settings)
    location = CheckpointLocation.open(settings.checkpoint_location(), options)
    # Sets up the process group under torchrun (the collectives below need it).
    args = training_arguments(settings, hp, location.local, batch)
    device = args.device
    stop = GracefulStop(settings.checkpoint_grace_seconds).install()
    timings: dict[str, float] = {}
    try:
        phase = time.monotonic()
        tokenizer = load_tokenizer(settings, ref)
        set_seed(hp.seed)
        try:
            model = load_model(settings, ref, hp, topology.local_rank)
        except ValueError as exc:  # e.g. LoRA target modules the model does not have
            raise ConfigError(f"cannot prepare the model for training: {exc}") from exc
        parameters = parameter_counts(model)
        train_tokens = tokenize_dataset(train, tokenizer, hp.max_seq_length)
        val_tokens = tokenize_dataset(val, tokenizer, hp.max_seq_length)
        timings["load_seconds"] = time.monotonic() - phase
        sink.write(
            "start",
            f"fine-tuning {ref.spec} ({settings.profile}/{settings.method}, "
            f"{parameters['trainable']:,} of {parameters['total']:,} parameters trainable) "
            f"on {len(train)} examples, validating on {len(val)}",
            base_model=ref.spec,
            profile=settings.profile,
            method=settings.method,
            parameters=parameters,
            train_examples=len(train),
            eval_examples=len(val),
            **_batch_fields(batch),
        )

        # Rank 0 discards incomplete checkpoints before the others look.
        resume = location.newest_complete() if topology.is_main else None
        topology.barrier()
        if not topology.is_main:
            resume = location.newest_complete()
        progress = ProgressCallback(sink)
        checkpoints = CheckpointCallback(location, stop, settings.checkpoints_to_keep, topology)
        trainer = build_trainer(
            model,
            tokenizer,
            args,
            train_tokens,
            val_tokens,
            [progress, checkpoints],
        )

        phase = time.monotonic()
        before = location.load_baseline() if resume else None
        if before is None and settings.eval_before_training:
            before = _evaluate(settings, trainer, model, tokenizer, val, train, False, topology)
            if topology.is_main:
                location.save_baseline(before)
        if before is not None:
            sink.write(
                "eval_before",
                f"before training: {_describe_metrics(before)}",
                **{k: v for k, v in before.items() if k != "eval_samples"},
            )
        timings["eval_before_seconds"] = time.monotonic() - phase
        if topology.any(stop.requested.is_set(), device):
            raise Interrupted(f"stopped by {_stop_reason(stop)} before training started")

        phase = time.monotonic()
        if resume is not None:
            logger.info("resuming from checkpoint", extra={"checkpoint": str(resume)})
        train_model(trainer, resume)
        topology.barrier()  # rank 0 has marked the last checkpoint complete
        timings["train_seconds"] = time.monotonic() - phase
        if topology.any(stop.requested.is_set(), device):
            saved = checkpoints.last_saved_step
            raise Interrupted(
                f"stopped by {_stop_reason(stop)} at step {trainer.state.global_step}"
                f"/{trainer.state.max_steps}; checkpoint {saved} is complete in "
                f"{location.uri}: run the Job again to resume"
            )
        stop.cancel_deadline()

        phase = time.monotonic()
        after = _evaluate(
            settings, trainer, model, tokenizer, val, train, settings.eval_train_accuracy, topology
        )
        timings["eval_after_seconds"] = time.monotonic() - phase
        sink.write(
            "eval_after",
            f"after training: {_describe_metrics(after)}",
            **{k: v for k, v in after.items() if k != "eval_samples"},
        )

        def gate_and_publish() -> dict[str, Any]:  # rank 0 only
            gate = settings.min_eval_accuracy
            if gate is not None and after["eval_accuracy"] < gate:
                raise GateError(
                    f"val accuracy {after['eval_accuracy']:.1%} is below the gate "
                    f"min_eval_accuracy={gate:.1%}: nothing was published"
                )
            if stop.requested.is_set():
                raise Interrupted(f"stopped by {stop.signal_name} before publishing")
            train_seconds = timings.get("train_seconds", 0.0)
            manifest = build_manifest(
                run_fingerprint=run.fingerprint,
                base_model=ref.spec,
                method=settings.method,
                profile=settings.profile,
                datasets={"train": train.describe(), "eval": val.describe()},
                training_arguments=hp.as_dict(),
                distributed=_batch_fields(batch),
                metrics={
                    "before": before,
                    "after": after,
                    "train_loss": progress.last_loss,
                    "tokens_per_second": round(progress.tokens / train_seconds, 1)
                    if train_seconds > 0
                    else None,
                },
                timings={**timings, "total_seconds": time.monotonic() - started},
                parameters=parameters,
                train_steps=trainer.state.global_step,
                tokens_trained=int(trainer.state.num_input_tokens_seen or 0),
            )
            published = publish_trained(run, model, tokenizer, manifest)
            location.prune(settings.checkpoints_to_keep)
            return published

        phase = time.monotonic()
        result = JobResult(
            settings.model_name, tag, run.tag_uri, topology.share_outcome(gate_and_publish)
        )
        timings["publish_seconds"] = time.monotonic() - phase
        sink.write(
            "summary",
            f"published {result.tag_uri}: {_describe_metrics(after)}; "
            f"{trainer.state.global_step} steps in "
            f"{timings['train_seconds']:.0f}s, total {time.monotonic() - started:.0f}s",
            tag_uri=result.tag_uri,
            steps=trainer.state.global_step,
            total_seconds=round(time.monotonic() - started, 1),
            **{k: v for k, v in after.items() if k != "eval_samples"},
        )
        return result
    finally:
        stop.uninstall()
        location.cleanup()
