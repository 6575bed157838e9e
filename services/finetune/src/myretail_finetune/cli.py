"""The ``myretail-finetune`` command (also ``python -m myretail_finetune``).

``myretail-finetune [train] [--config FILE] [flags]`` runs the Job; ``myretail-finetune
make-tiny-base --out DIR --catalog CSV --policy MD --qa JSONL...`` builds the tiny local
base model from the files it is given. User mistakes print
``error: <message>`` to stderr and exit with a distinct code (see :mod:`.errors`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from myretail_finetune.errors import ExitCode, FinetuneError

logger = logging.getLogger("myretail_finetune")

# Flags of ``train`` that map onto settings fields (flag --foo-bar -> field foo_bar).
_TRAIN_FLAGS: dict[str, tuple[type, str]] = {
    "train_dataset_file": (str, "training JSONL (path, file:// or s3:// URI)"),
    "eval_dataset_file": (str, "validation JSONL (path, file:// or s3:// URI)"),
    "base_model": (str, "base model: local folder, store URI or hub id"),
    "model_name": (str, "published model name"),
    "model_tag": (str, "published tag"),
    "profile": (str, "cpu or qlora"),
    "method": (str, "lora or full"),
    "checkpoint_dir": (str, "checkpoint location: PVC path or store URI"),
    "checkpoint_steps": (int, "checkpoint every N optimizer steps"),
    "learning_rate": (float, "learning rate"),
    "max_steps": (int, "optimizer steps"),
    "num_train_epochs": (float, "epochs (when max_steps is not set)"),
    "batch_size": (int, "per-device batch size"),
    "min_eval_accuracy": (float, "gate: publish only at or above this val accuracy"),
    "metrics_file": (str, "write every metric as JSON lines here"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="myretail-finetune",
        description="Fine-tune the Loyalty assistant and publish it to the model store.",
    )
    commands = parser.add_subparsers(dest="command")
    train = commands.add_parser("train", help="fine-tune, evaluate and publish (default)")
    train.add_argument("--config", help="YAML file of settings (also FINETUNE_CONFIG)")
    for name, (kind, help_text) in _TRAIN_FLAGS.items():
        train.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind, help=help_text)
    train.add_argument(
        "--force",
        dest="force_publish",
        action="store_const",
        const=True,
        help="overwrite the tag if it is already published",
    )
    tiny = commands.add_parser("make-tiny-base", help="build the tiny local base model")
    tiny.add_argument("--out", required=True, type=Path, help="folder to write")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--pretrain-steps", type=int, default=None)
    tiny.add_argument("--catalog", type=Path, help="catalog CSV (tokenizer and pre-training)")
    tiny.add_argument("--policy", type=Path, help="MyElite policy (tokenizer and pre-training)")
    tiny.add_argument(
        "--qa",
        dest="qa_files",
        type=Path,
        action="append",
        default=[],
        help="loyalty Q/A JSONL for the tokenizer (repeatable)",
    )
    return parser


def _configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    from myretail_common.logs import configure_logging

    configure_logging(level, fmt)
    for noisy in ("transformers", "datasets", "peft", "accelerate", "torch"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _make_tiny_base(args: argparse.Namespace) -> int:
    from myretail_common.settings import CommonSettings
    from myretail_finetune.tiny_base import (
        DEFAULT_PRETRAIN_STEPS,
        TinyBaseInputs,
        build_tiny_base,
    )

    common = CommonSettings()
    _configure_logging(common.log_level, common.log_format)
    steps = DEFAULT_PRETRAIN_STEPS if args.pretrain_steps is None else args.pretrain_steps
    if steps < 0:
        raise _usage("--pretrain-steps must be 0 or more")
    inputs = TinyBaseInputs(args.catalog, args.policy, tuple(args.qa_files))
    try:
        path = build_tiny_base(args.out, seed=args.seed, pretrain_steps=steps, inputs=inputs)
    except (FileExistsError, FileNotFoundError) as exc:
        raise _usage(str(exc)) from exc
    print(f"tiny base written to {path}")
    return ExitCode.OK


def _usage(message: str) -> FinetuneError:
    from myretail_finetune.errors import ConfigError

    return ConfigError(message)


def _train(args: argparse.Namespace) -> int:
    from myretail_finetune.config import load_settings
    from myretail_finetune.job import run_job

    overrides: dict[str, Any] = {
        name: getattr(args, name)
        for name in [*_TRAIN_FLAGS, "force_publish"]
        if getattr(args, name, None) is not None
    }
    settings = load_settings(getattr(args, "config", None), overrides)
    _configure_logging(settings.log_level, settings.log_format)
    run_job(settings)
    return ExitCode.OK


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["train", *argv]
    args = _parser().parse_args(argv)
    try:
        if args.command == "make-tiny-base":
            return _make_tiny_base(args)
        return _train(args)
    except FinetuneError as exc:
        logger.debug("stopped", exc_info=exc)
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return int(exc.exit_code)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        return int(ExitCode.INTERRUPTED)
