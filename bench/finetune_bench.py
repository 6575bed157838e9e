"""Fine-tune throughput and memory of the tiny profile: LoRA vs full, side by side.

    .venv/bin/python bench/finetune_bench.py [--steps 60] [--batch-size 8] [--threads N]

Builds the tiny base once, then runs the real fine-tune Job (``myretail_finetune.job``)
once per method, each in its own process so peak memory is per method (its log and its
figures as JSON land in the work folder, which a failure quotes). Prints training
tokens/s (non-padding tokens per second of training), seconds per step, trainable
parameters and peak RSS, and the LoRA/full ratios. A benchmark, not a test: it prints
figures and asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METHODS = ("lora", "full")


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def child(args: argparse.Namespace) -> None:
    """Run one method and write its figures to ``<work>/<method>.json``."""
    import datasets
    import peft
    import torch
    import transformers

    from myretail_finetune.config import FinetuneSettings
    from myretail_finetune.job import run_job

    del datasets, peft, transformers  # imported so the baseline RSS includes them

    if args.threads:
        torch.set_num_threads(args.threads)
    work = Path(args.work)
    settings = FinetuneSettings(
        train_dataset_file=str(ROOT / "data" / "loyalty_qa_train.jsonl"),
        eval_dataset_file=str(ROOT / "data" / "loyalty_qa_val.jsonl"),
        base_model=str(work / "tiny-base"),
        model_tag=f"bench-{args.child}",
        method=args.child,
        model_store_uri=(work / "store").as_uri(),
        checkpoint_dir=str(work / f"checkpoints-{args.child}"),
        checkpoint_steps=10_000,
        max_steps=args.steps,
        batch_size=args.batch_size,
        logging_steps=args.steps,
        eval_before_training=False,
        eval_train_accuracy=False,
        eval_max_examples=1,
        eval_max_new_tokens=1,
        log_level="WARNING",
    )
    baseline = _rss_mib()
    peak = [baseline]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], _rss_mib())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = run_job(settings)
    finally:
        done.set()
        sampler.join()
    manifest = result.manifest
    train_seconds = manifest["timings"]["train_seconds"]
    (work / f"{args.child}.json").write_text(
        json.dumps(
            {
                "method": args.child,
                "tokens_per_second": manifest["metrics"]["tokens_per_second"],
                "seconds_per_step": train_seconds / manifest["train_steps"],
                "trainable": manifest["parameters"]["trainable"],
                "total": manifest["parameters"]["total"],
                "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "job_peak_above_baseline_mib": peak[0] - baseline,
                "threads": torch.get_num_threads(),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--child", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    from myretail_testkit.models import build_project_tiny_base
    from myretail_testkit.processes import Supervised

    with tempfile.TemporaryDirectory(prefix="finetune-bench-") as work:
        started = time.monotonic()
        build_project_tiny_base(Path(work) / "tiny-base")
        print(f"tiny base built in {time.monotonic() - started:.1f}s")
        results = {}
        for method in METHODS:
            command = [
                sys.executable,
                __file__,
                "--child",
                method,
                "--work",
                work,
                "--steps",
                str(args.steps),
                "--batch-size",
                str(args.batch_size),
                "--threads",
                str(args.threads),
            ]
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "LOG_LEVEL": "WARNING"}
            run = Supervised(
                command, name=f"the {method} run", log_path=Path(work) / f"{method}.log", env=env
            )
            run.start().wait_success()
            results[method] = json.loads((Path(work) / f"{method}.json").read_text())

    print(
        f"\ntiny profile, {args.steps} steps at batch {args.batch_size}, "
        f"{results['lora']['threads']} torch thread(s), {os.cpu_count()} CPUs"
    )
    print(
        f"{'method':<8}{'tokens/s':>10}{'s/step':>9}{'trainable':>12}"
        f"{'peak RSS MiB':>14}{'job peak over imports MiB':>27}"
    )
    for method in METHODS:
        r = results[method]
        print(
            f"{method:<8}{r['tokens_per_second']:>10,.0f}{r['seconds_per_step']:>9.3f}"
            f"{r['trainable']:>12,}{r['peak_rss_mib']:>14,.0f}"
            f"{r['job_peak_above_baseline_mib']:>27,.0f}"
        )
    lora, full = results["lora"], results["full"]
    job_ratio = lora["job_peak_above_baseline_mib"] / full["job_peak_above_baseline_mib"]
    print(
        f"LoRA/full: throughput x{lora['tokens_per_second'] / full['tokens_per_second']:.2f}, "
        f"peak memory x{lora['peak_rss_mib'] / full['peak_rss_mib']:.2f}, "
        f"job memory x{job_ratio:.2f}"
    )


if __name__ == "__main__":
    main()
