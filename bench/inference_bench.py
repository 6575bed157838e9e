"""Inference benchmark: one request at a time (the seed) vs continuous batching.

Sends the same 32 streaming requests (64 new tokens each, greedy, end-of-text ignored so
every request generates exactly 64 tokens) twice in one run: one at a time, as the seed's
server handled them, then 16 at a time. Prints throughput (generated tokens per second),
the throughput ratio, p50/p95 latency and p50/p95 time to first token.

By default it starts the service itself (``python -m myretail_inference``, the real entry
point, in its own process, on a loopback port, its log in ``var/bench/inference.log``)
serving the tiny Llama-architecture model:
the tiny base is built once into ``var/bench/tiny-base`` and published as a ``full`` tag
to a model store in ``var/bench/store``. ``--url`` benchmarks a running service instead.

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

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "var" / "bench"
MODEL_NAME = "bench-tiny"
MODEL_TAG = "v1"


@dataclass
class Sample:
    latency: float
    ttft: float
    tokens: int


@dataclass
class Phase:
    name: str
    concurrency: int
    wall: float
    samples: list[Sample]

    @property
    def tokens(self) -> int:
        return sum(sample.tokens for sample in self.samples)

    @property
    def throughput(self) -> float:
        return self.tokens / self.wall

    def percentile(self, values: list[float], q: int) -> float:
        return statistics.quantiles(values, n=100, method="inclusive")[q - 1]

    def row(self) -> dict[str, float | int | str]:
        latencies = [sample.latency for sample in self.samples]
        ttfts = [sample.ttft for sample in self.samples]
        return {
            "mode": self.name,
            "concurrency": self.concurrency,
            "requests": len(self.samples),
            "tokens": self.tokens,
            "wall_s": round(self.wall, 2),
            "tokens_per_s": round(self.throughput, 1),
            "latency_p50_s": round(self.percentile(latencies, 50), 3),
            "latency_p95_s": round(self.percentile(latencies, 95), 3),
            "ttft_p50_s": round(self.percentile(ttfts, 50), 3),
            "ttft_p95_s": round(self.percentile(ttfts, 95), 3),
        }


def questions(count: int) -> list[str]:
    from myretail_common.prompt import build_prompt

    path = ROOT / "data" / "loyalty_qa_val.jsonl"
    lines = [json.loads(line)["prompt"] for line in path.read_text().splitlines() if line]
    return [build_prompt(lines[i % len(lines)]) for i in range(count)]


async def one_request(
    client: httpx.AsyncClient, model: str, prompt: str, max_tokens: int
) -> Sample:
    body = {
        "model": model,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "temperature": 0,
        "ignore_eos": True,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    started = time.perf_counter()
    first: float | None = None
    tokens = 0
    async with client.stream("POST", "/v1/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("error"):
                raise RuntimeError(chunk["error"]["message"])
            if first is None and chunk["choices"] and chunk["choices"][0]["text"]:
                first = time.perf_counter() - started
            if chunk.get("usage"):
                tokens = chunk["usage"]["completion_tokens"]
    latency = time.perf_counter() - started
    return Sample(latency=latency, ttft=first if first is not None else latency, tokens=tokens)


async def run_phase(
    url: str, model: str, prompts: list[str], max_tokens: int, concurrency: int, name: str
) -> Phase:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        pending = list(enumerate(prompts))
        samples: list[Sample | None] = [None] * len(prompts)

        async def worker() -> None:
            while pending:
                index, prompt = pending.pop(0)
                samples[index] = await one_request(client, model, prompt, max_tokens)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - started
    return Phase(name, concurrency, wall, [s for s in samples if s is not None])


def publish_tiny_model() -> str:
    """The tiny base, built once into var/bench and published there as a ``full`` tag."""
    from myretail_common.model_store import ModelStore
    from myretail_common.storage import Storage

    store_uri = (BENCH_DIR / "store").as_uri()
    store = ModelStore(Storage(store_uri))
    if not store.has_tag(MODEL_NAME, MODEL_TAG):
        from myretail_testkit.models import build_project_tiny_base

        print("building the tiny base model (once, into var/bench) ...", file=sys.stderr)
        base = build_project_tiny_base(BENCH_DIR / "tiny-base")
        store.publish(base, MODEL_NAME, MODEL_TAG, {"method": "full", "base_model": str(base)})
    return store_uri


@contextmanager
def local_server(max_batch_size: int) -> Iterator[tuple[str, str]]:
    """Run ``myretail-inference`` (the real entry point) on loopback in its own process."""
    from myretail_common.ports import free_port
    from myretail_testkit.processes import Supervised, http_ok

    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MODEL_STORE_URI": publish_tiny_model(),
        "MODEL_NAME": MODEL_NAME,
        "MODEL_TAG": MODEL_TAG,
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
    with server.start_ready(http_ok(f"{url}/readyz"), timeout=180):
        yield url, MODEL_NAME


def median_phase(phases: list[Phase]) -> Phase:
    return sorted(phases, key=lambda phase: phase.throughput)[len(phases) // 2]


async def bench(url: str, model: str, args: argparse.Namespace) -> dict[str, object]:
    prompts = questions(args.requests)
    await run_phase(url, model, prompts[:4], 8, 4, "warm-up")
    sequential: list[Phase] = []
    batched: list[Phase] = []
    for _ in range(args.rounds):  # interleaved, so load from other jobs hits both alike
        sequential.append(await run_phase(url, model, prompts, args.max_tokens, 1, "one at a time"))
        batched.append(
            await run_phase(
                url,
                model,
                prompts,
                args.max_tokens,
                args.concurrency,
                f"concurrency {args.concurrency}",
            )
        )
    one, many = median_phase(sequential), median_phase(batched)
    return {
        "rounds": args.rounds,
        "phases": [one.row(), many.row()],
        "throughput_ratio": round(many.throughput / one.throughput, 2),
        "throughput_ratio_per_round": [
            round(b.throughput / a.throughput, 2) for a, b in zip(sequential, batched, strict=True)
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="benchmark a running service (default: serve locally)")
    parser.add_argument("--model", default=MODEL_NAME, help="model id with --url")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--max-tokens", type=int, default=64)
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
        return 0
    phases = result["phases"]
    assert isinstance(phases, list)
    print(
        f"{args.requests} requests x {args.max_tokens} new tokens (streaming /v1/completions, "
        f"greedy), {os.cpu_count()} CPUs, median of {args.rounds} interleaved rounds"
    )
    header = f"{'mode':<16}{'wall s':>8}{'tok/s':>9}{'lat p50':>9}{'lat p95':>9}"
    header += f"{'ttft p50':>10}{'ttft p95':>10}"
    print(header)
    for row in phases:
        print(
            f"{row['mode']:<16}{row['wall_s']:>8}{row['tokens_per_s']:>9}"
            f"{row['latency_p50_s']:>9}{row['latency_p95_s']:>9}"
            f"{row['ttft_p50_s']:>10}{row['ttft_p95_s']:>10}"
        )
    print(
        f"throughput ratio (concurrency {args.concurrency} / one at a time): "
        f"{result['throughput_ratio']}x (per round: {result['throughput_ratio_per_round']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
