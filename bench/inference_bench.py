"""Inference benchmark: continuous batching vs one request at a time, and sampling vs greedy.

Three workloads of streaming ``/v1/completions`` requests on the real loyalty questions
(``data/loyalty_qa_val.jsonl``, in the shared prompt format), each measured side by side
in one run, in interleaved rounds (the median round is shown):

* **answers to EOS** — greedy, up to 128 new tokens: the fine-tuned model answers and
  stops at its end-of-sequence token, so answers have their natural, different lengths
  (about 23 tokens). One at a time vs 16 at a time; 96 requests (every validation
  question twice), so the batch spends most of the run full rather than filling and
  draining.
* **fixed length** — greedy, exactly 64 new tokens (end of text ignored). One at a time
  vs 16 at a time.
* **sampling** — temperature 1 (and temperature 1 with top-p 0.9), seeded, 64 tokens, 16
  at a time, vs the greedy fixed-length run: what batched on-device sampling costs.

Prints throughput (generated tokens per second), the ratios, p50/p95 latency and time to
first token, and the machine's load average around each run (other jobs slow both sides
of a ratio alike, but not exactly).

By default it starts the service itself (``python -m myretail_inference``, the real entry
point, in its own process, on a loopback port, its log in ``var/bench/inference.log``)
serving the tiny Llama-architecture base with a LoRA adapter fine-tuned by the real Job
(built once into ``var/bench``, a few minutes). ``--url`` benchmarks a running service.

    .venv/bin/python bench/inference_bench.py            # tiny model, this machine
    .venv/bin/python bench/inference_bench.py --url http://localhost:8000 --model NAME
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "var" / "bench"
FINETUNE_DIR = BENCH_DIR / "finetune"


@dataclass(frozen=True)
class Workload:
    name: str
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    ignore_eos: bool = True

    def body(self, model: str, prompt: str, seed: int) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": model,
            "prompt": prompt,
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if self.ignore_eos:
            body["ignore_eos"] = True
        if self.temperature > 0:
            body["seed"] = seed
        return body


EOS_ANSWERS = Workload("answers to EOS", 128, ignore_eos=False)
FIXED = Workload("fixed length", 64)
SAMPLED = Workload("temperature 1", 64, temperature=1.0)
NUCLEUS = Workload("temperature 1, top-p 0.9", 64, temperature=1.0, top_p=0.9)


@dataclass
class Sample:
    latency: float
    ttft: float
    tokens: int
    finish_reason: str


@dataclass
class Phase:
    workload: Workload
    concurrency: int
    wall: float
    samples: list[Sample]
    load: tuple[float, float]  # 1-minute load average before and after

    @property
    def name(self) -> str:
        return f"{self.workload.name}, {self.concurrency} at a time"

    @property
    def tokens(self) -> int:
        return sum(sample.tokens for sample in self.samples)

    @property
    def throughput(self) -> float:
        return self.tokens / self.wall

    def row(self) -> dict[str, Any]:
        def percentile(values: list[float], q: int) -> float:
            return round(statistics.quantiles(values, n=100, method="inclusive")[q - 1], 3)

        latencies = [sample.latency for sample in self.samples]
        ttfts = [sample.ttft for sample in self.samples]
        return {
            "mode": self.name,
            "requests": len(self.samples),
            "tokens": self.tokens,
            "ended_at_eos": sum(1 for s in self.samples if s.finish_reason == "stop"),
            "wall_s": round(self.wall, 2),
            "tokens_per_s": round(self.throughput, 1),
            "latency_p50_s": percentile(latencies, 50),
            "latency_p95_s": percentile(latencies, 95),
            "ttft_p50_s": percentile(ttfts, 50),
            "ttft_p95_s": percentile(ttfts, 95),
            "load_1m": [round(value, 2) for value in self.load],
        }


def questions(count: int) -> list[str]:
    from myretail_common.prompt import build_prompt

    path = ROOT / "data" / "loyalty_qa_val.jsonl"
    lines = [json.loads(line)["prompt"] for line in path.read_text().splitlines() if line]
    return [build_prompt(lines[i % len(lines)]) for i in range(count)]


async def one_request(client: httpx.AsyncClient, body: dict[str, Any]) -> Sample:
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    finish_reason = ""
    async with client.stream("POST", "/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("error"):
                raise RuntimeError(chunk["error"]["message"])
            for choice in chunk.get("choices") or []:
                if first is None and choice.get("text"):
                    first = time.perf_counter() - started
                finish_reason = choice.get("finish_reason") or finish_reason
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    latency = time.perf_counter() - started
    return Sample(latency, first if first is not None else latency, tokens, finish_reason)


async def run_phase(
    url: str, model: str, prompts: list[str], workload: Workload, concurrency: int
) -> Phase:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    load_before = os.getloadavg()[0]
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        pending = list(enumerate(prompts))
        samples: list[Sample | None] = [None] * len(prompts)

        async def worker() -> None:
            while pending:
                index, prompt = pending.pop(0)
                body = workload.body(model, prompt, seed=index)
                samples[index] = await one_request(client, body)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    kept = [sample for sample in samples if sample is not None]
    return Phase(workload, concurrency, wall, kept, (load_before, os.getloadavg()[0]))


def publish_fine_tuned_model() -> tuple[str, str, str]:
    """The tiny base with the Job's LoRA adapter, trained once into var/bench."""
    from myretail_common.model_store import ModelStore
    from myretail_common.storage import Storage
    from myretail_testkit.models import (
        FIXTURE_MODEL_NAME,
        FIXTURE_TAG,
        build_project_tiny_base,
        fine_tune_for_tests,
    )

    store_uri = (FINETUNE_DIR / "store").as_uri()
    if not ModelStore(Storage(store_uri)).has_tag(FIXTURE_MODEL_NAME, FIXTURE_TAG):
        base = BENCH_DIR / "tiny-base"
        if not (base / "config.json").is_file():
            print("building the tiny base model (once, into var/bench) ...", file=sys.stderr)
            build_project_tiny_base(base)
        print("fine-tuning the adapter (once, into var/bench) ...", file=sys.stderr)
        fine_tune_for_tests(base, FINETUNE_DIR)
    return store_uri, FIXTURE_MODEL_NAME, FIXTURE_TAG


@contextmanager
def local_server(max_batch_size: int) -> Iterator[tuple[str, str]]:
    """Run ``myretail-inference`` (the real entry point) on loopback in its own process."""
    from myretail_common.ports import free_port
    from myretail_testkit.processes import Supervised, http_ok

    store_uri, model_name, tag = publish_fine_tuned_model()
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MODEL_STORE_URI": store_uri,
        "MODEL_NAME": model_name,
        "MODEL_TAG": tag,
        "BASE_MODEL": str(BENCH_DIR / "tiny-base"),  # also where var/bench was copied to
        "MODEL_CACHE_DIR": str(BENCH_DIR / "cache"),
        "MAX_BATCH_SIZE": str(max_batch_size),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
    }
    url = f"http://127.0.0.1:{port}"
    server = Supervised(
        [sys.executable, "-m", "myretail_inference"],
        name="the inference server",
        log_path=BENCH_DIR / "inference.log",
        env=env,
        ports={"the benchmark's port": port},
    )
    server.start_ready(http_ok(f"{url}/readyz"), timeout=180)
    try:
        yield url, model_name
    finally:
        server.stop()


def median_phase(phases: list[Phase]) -> Phase:
    return sorted(phases, key=lambda phase: phase.throughput)[len(phases) // 2]


def _ratio(numerator: list[Phase], denominator: list[Phase]) -> dict[str, Any]:
    per_round = [
        round(a.throughput / b.throughput, 2) for a, b in zip(numerator, denominator, strict=True)
    ]
    median = median_phase(numerator).throughput / median_phase(denominator).throughput
    return {"ratio": round(median, 2), "per_round": per_round}


async def bench(url: str, model: str, args: argparse.Namespace) -> dict[str, Any]:
    prompts, answered = questions(args.requests), questions(args.eos_requests)
    await run_phase(url, model, prompts[:4], Workload("warm-up", 8), 4)
    many = args.concurrency
    plan = [
        ("eos_alone", EOS_ANSWERS, 1, answered),
        ("eos_batched", EOS_ANSWERS, many, answered),
        ("fixed_alone", FIXED, 1, prompts),
        ("fixed_batched", FIXED, many, prompts),
        ("sampled_batched", SAMPLED, many, prompts),
        ("nucleus_batched", NUCLEUS, many, prompts),
    ]
    runs: dict[str, list[Phase]] = {key: [] for key, *_ in plan}
    for _ in range(args.rounds):  # interleaved, so load from other jobs hits all alike
        for key, workload, concurrency, texts in plan:
            runs[key].append(await run_phase(url, model, texts, workload, concurrency))
    return {
        "rounds": args.rounds,
        "cpus": os.cpu_count(),
        "phases": [median_phase(runs[key]).row() for key, *_ in plan],
        "batching_ratio_eos_answers": _ratio(runs["eos_batched"], runs["eos_alone"]),
        "batching_ratio_fixed_length": _ratio(runs["fixed_batched"], runs["fixed_alone"]),
        "sampling_ratio": _ratio(runs["sampled_batched"], runs["fixed_batched"]),
        "sampling_ratio_top_p": _ratio(runs["nucleus_batched"], runs["fixed_batched"]),
    }


def _print(result: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"streaming /v1/completions requests on the loyalty questions ({args.eos_requests} per "
        f"answers-to-EOS run, {args.requests} per other run), {result['cpus']} CPUs, median of "
        f"{result['rounds']} interleaved rounds"
    )
    header = f"{'mode':<40}{'tok':>6}{'eos':>5}{'wall s':>8}{'tok/s':>8}{'lat p50':>9}"
    header += f"{'lat p95':>9}{'ttft p95':>10}{'load 1m':>14}"
    print(header)
    for row in result["phases"]:
        load = "→".join(str(value) for value in row["load_1m"])
        print(
            f"{row['mode']:<40}{row['tokens']:>6}{row['ended_at_eos']:>5}{row['wall_s']:>8}"
            f"{row['tokens_per_s']:>8}{row['latency_p50_s']:>9}{row['latency_p95_s']:>9}"
            f"{row['ttft_p95_s']:>10}{load:>14}"
        )
    for key, label in (
        ("batching_ratio_eos_answers", f"{args.concurrency} at a time / one at a time, EOS"),
        ("batching_ratio_fixed_length", f"{args.concurrency} at a time / one at a time, fixed"),
        ("sampling_ratio", "temperature 1 / greedy (batched)"),
        ("sampling_ratio_top_p", "temperature 1 top-p 0.9 / greedy (batched)"),
    ):
        ratio = result[key]
        print(f"{label:<48} {ratio['ratio']}x (per round: {ratio['per_round']})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="benchmark a running service (default: serve locally)")
    parser.add_argument("--model", default="loyalty-assistant", help="model id with --url")
    parser.add_argument("--requests", type=int, default=32, help="per fixed-length run")
    parser.add_argument("--eos-requests", type=int, default=96, help="per answers-to-EOS run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--rounds", type=int, default=3, help="interleaved rounds; the median round is shown"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)

    if args.url:
        result = asyncio.run(bench(args.url, args.model, args))
    else:
        with local_server(args.concurrency) as (url, model):
            result = asyncio.run(bench(url, model, args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
