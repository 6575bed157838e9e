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

These three are the ``engine`` part. The ``gateway`` part measures what the gateway
(``ENGINE=remote``, the production front of vLLM) costs: the same fixed-length requests
(greedy, 64 new tokens, ``--gateway-requests`` of them), 16 at a time, straight to the
native server and through a gateway in front of it, alternating direct and gateway for
``--rounds`` rounds (the order flips every round); it prints each run and the mean of the
runs, requests/s, the throughput ratio gateway / direct (goal: at least 0.9), the CPU
time each server process spent per request, and the load average. ``--parts gateway``
runs it alone; ``--save`` writes its figures to ``bench/results/inference_gateway.json``.

By default it starts the service itself (``python -m myretail_inference``, the real entry
point, in its own process, on a loopback port, its log in ``var/bench/inference.log``)
serving the tiny Llama-architecture base with a LoRA adapter fine-tuned by the real Job
(built once into ``var/bench``, a few minutes). The native server plays vLLM's part: it
serves the adapter under the name the gateway asks its upstream for,
``<MODEL_NAME>-<tag>`` (vLLM's ``--lora-modules`` name; the tag is published again under
that model name in the bench's store), and the gateway runs as a second process
(``var/bench/gateway.log``) with ``UPSTREAM_BASE_URL=<native server>/v1``. ``--url``
benchmarks a running service (and ``--gateway-url`` a gateway in front of it).

    .venv/bin/python bench/inference_bench.py            # tiny model, this machine
    .venv/bin/python bench/inference_bench.py --parts gateway --rounds 4 --save
    .venv/bin/python bench/inference_bench.py --url http://localhost:8000 --model NAME
    .venv/bin/python bench/inference_bench.py --parts gateway --url http://localhost:8001 \
        --model loyalty-assistant-v1 --gateway-url http://localhost:8000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "var" / "bench"
FINETUNE_DIR = BENCH_DIR / "finetune"
RESULTS = ROOT / "bench" / "results"
PARTS = ("engine", "gateway")


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
    route: str = ""  # gateway part: "direct" or "gateway"

    @property
    def name(self) -> str:
        mode = f"{self.workload.name}, {self.concurrency} at a time"
        return f"{self.route}: {mode}" if self.route else mode

    @property
    def tokens(self) -> int:
        return sum(sample.tokens for sample in self.samples)

    @property
    def throughput(self) -> float:
        return self.tokens / self.wall

    @property
    def requests_per_second(self) -> float:
        return len(self.samples) / self.wall

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
            "requests_per_s": round(self.requests_per_second, 2),
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
    url: str,
    model: str,
    prompts: list[str],
    workload: Workload,
    concurrency: int,
    route: str = "",
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
    return Phase(workload, concurrency, wall, kept, (load_before, os.getloadavg()[0]), route)


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


def publish_upstream_name(store_uri: str, model: str, tag: str) -> str:
    """The tag published again as ``<model>-<tag>``, the name the gateway asks its upstream
    for (vLLM's ``--lora-modules`` name), so that a native server can play the upstream."""
    from myretail_common.model_store import MANIFEST_NAME, ModelStore
    from myretail_common.storage import Storage
    from myretail_inference.upstream import upstream_model

    name = upstream_model(model, tag)
    store = ModelStore(Storage(store_uri))
    if not store.has_tag(name, tag):
        with tempfile.TemporaryDirectory(dir=BENCH_DIR) as scratch:
            files = store.fetch(model, tag, Path(scratch))
            manifest = json.loads((files / MANIFEST_NAME).read_text())
            store.publish(files, name, tag, manifest)  # names, files and date set anew
    return name


def answers_completions(url: str, model: str) -> Callable[[], bool]:
    """Ready once ``url`` answers a one-token ``/v1/completions`` request with 200.

    The gateway's own ``/readyz`` stays 503 in front of a native server: it also checks
    the upstream's ``GET /health`` (vLLM's path), which the native server does not serve
    (it has ``/healthz``), so the bench waits for a real answer through the gateway."""

    def probe() -> bool:
        body = {"model": model, "prompt": "ping", "max_tokens": 1, "temperature": 0}
        return httpx.post(f"{url}/v1/completions", json=body, timeout=10).status_code == 200

    return probe


@contextmanager
def inference_process(
    name: str,
    log_name: str,
    settings: dict[str, str],
    ready: Callable[[str], Callable[[], object]] | None = None,
) -> Iterator[tuple[str, int]]:
    """``python -m myretail_inference`` (the real entry point) in its own process on a
    loopback port, with ``settings`` added to its environment; yields its URL and process
    id once ``ready(url)`` says so (default: ``/readyz`` answers 200)."""
    from myretail_common.ports import free_port
    from myretail_testkit.processes import Supervised, http_ok

    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "MODEL_CACHE_DIR": str(BENCH_DIR / "cache"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_LEVEL": "WARNING",
        **settings,
    }
    url = f"http://127.0.0.1:{port}"
    server = Supervised(
        [sys.executable, "-m", "myretail_inference"],
        name=name,
        log_path=BENCH_DIR / log_name,
        env=env,
        ports={"the benchmark's port": port},
    )
    probe = ready(url) if ready is not None else http_ok(f"{url}/readyz")
    server.start_ready(probe, timeout=180)
    try:
        yield url, server.pid
    finally:
        server.stop()


@dataclass(frozen=True)
class Endpoint:
    url: str
    model: str
    pid: int | None = None  # a server this bench started: its CPU time is measured


@dataclass(frozen=True)
class Servers:
    native: Endpoint
    gateway: Endpoint | None


@contextmanager
def local_servers(max_batch_size: int, with_gateway: bool) -> Iterator[Servers]:
    """The native server (serving the adapter under its upstream name, as vLLM would),
    and with ``with_gateway`` a gateway (``ENGINE=remote``) in front of it."""
    store_uri, model_name, tag = publish_fine_tuned_model()
    served = {
        "MODEL_STORE_URI": store_uri,
        "MODEL_TAG": tag,
        "BASE_MODEL": str(BENCH_DIR / "tiny-base"),  # also where var/bench was copied to
        "MAX_BATCH_SIZE": str(max_batch_size),
    }
    upstream_name = publish_upstream_name(store_uri, model_name, tag)
    with ExitStack() as stack:
        native_url, native_pid = stack.enter_context(
            inference_process(
                "the inference server",
                "inference.log",
                {**served, "MODEL_NAME": upstream_name},
            )
        )
        gateway = None
        if with_gateway:
            gateway_settings = {
                **served,
                "MODEL_NAME": model_name,
                "ENGINE": "remote",
                "UPSTREAM_BASE_URL": f"{native_url}/v1",
            }
            gateway_url, gateway_pid = stack.enter_context(
                inference_process(
                    "the inference gateway",
                    "gateway.log",
                    gateway_settings,
                    ready=lambda url: answers_completions(url, model_name),
                )
            )
            gateway = Endpoint(gateway_url, model_name, gateway_pid)
        yield Servers(Endpoint(native_url, upstream_name, native_pid), gateway)


def median_phase(phases: list[Phase]) -> Phase:
    return sorted(phases, key=lambda phase: phase.throughput)[len(phases) // 2]


def _ratio(numerator: list[Phase], denominator: list[Phase]) -> dict[str, Any]:
    per_round = [
        round(a.throughput / b.throughput, 2) for a, b in zip(numerator, denominator, strict=True)
    ]
    median = median_phase(numerator).throughput / median_phase(denominator).throughput
    return {"ratio": round(median, 2), "per_round": per_round}


async def bench_engine(url: str, model: str, args: argparse.Namespace) -> dict[str, Any]:
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


# The figures of a run that the gateway part averages over its rounds, and their digits.
_AVERAGED = {
    "tokens_per_s": 1,
    "requests_per_s": 2,
    "latency_p50_s": 3,
    "latency_p95_s": 3,
    "ttft_p50_s": 3,
    "ttft_p95_s": 3,
}


def _mean_row(route: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    mean = {
        key: round(statistics.fmean(row[key] for row in rows), digits)
        for key, digits in _AVERAGED.items()
    }
    cpu = {
        process: round(statistics.fmean(row["cpu_ms_per_request"][process] for row in rows), 2)
        for process in rows[0]["cpu_ms_per_request"]
    }
    return {"route": route, "runs": len(rows), **mean, "cpu_ms_per_request": cpu}


def cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """CPU time (user + system, all threads) of each named process so far."""
    import psutil

    times = {name: psutil.Process(pid).cpu_times() for name, pid in pids.items()}
    return {name: float(used.user + used.system) for name, used in times.items()}


async def measured_run(
    endpoint: Endpoint, prompts: list[str], route: str, concurrency: int, pids: dict[str, int]
) -> tuple[Phase, dict[str, float]]:
    """One gateway-part run, and the CPU milliseconds per request each server spent on it."""
    before = cpu_seconds(pids)
    phase = await run_phase(endpoint.url, endpoint.model, prompts, FIXED, concurrency, route)
    after = cpu_seconds(pids)
    spent = {name: round((after[name] - before[name]) * 1000 / len(prompts), 2) for name in pids}
    return phase, spent


async def bench_gateway(
    direct: Endpoint, gateway: Endpoint, args: argparse.Namespace
) -> dict[str, Any]:
    """The same requests straight to the native server and through the gateway, in
    alternating runs (direct first in even rounds, gateway first in odd ones)."""
    prompts = questions(args.gateway_requests)
    load_at_start = os.getloadavg()
    routes = {"direct": direct, "gateway": gateway}
    for endpoint in routes.values():
        await run_phase(endpoint.url, endpoint.model, prompts[:4], Workload("warm-up", 8), 4)
    pids = {route: e.pid for route, e in routes.items() if e.pid is not None}
    pids = {"native": pids["direct"], "gateway": pids["gateway"]} if len(pids) == 2 else {}
    runs: dict[str, list[dict[str, Any]]] = {route: [] for route in routes}
    for round_index in range(args.rounds):
        order = list(routes) if round_index % 2 == 0 else list(reversed(routes))
        for route in order:
            phase, cpu = await measured_run(routes[route], prompts, route, args.concurrency, pids)
            row = {"route": route, "round": round_index + 1, **phase.row()}
            runs[route].append({**row, "cpu_ms_per_request": cpu})
    per_round = [
        round(g["tokens_per_s"] / d["tokens_per_s"], 3)
        for g, d in zip(runs["gateway"], runs["direct"], strict=True)
    ]
    means = {route: _mean_row(route, rows) for route, rows in runs.items()}
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "requests": len(prompts),
        "new_tokens": FIXED.max_tokens,
        "concurrency": args.concurrency,
        "rounds": args.rounds,
        "load_average_start": [round(value, 2) for value in load_at_start],
        "load_average_end": [round(value, 2) for value in os.getloadavg()],
        "mean": list(means.values()),
        "runs": [row for rows in runs.values() for row in rows],
        "throughput_ratio": round(
            means["gateway"]["tokens_per_s"] / means["direct"]["tokens_per_s"], 3
        ),
        "throughput_ratio_per_round": per_round,
    }


def _print_engine(result: dict[str, Any], args: argparse.Namespace) -> None:
    print(
        f"streaming /v1/completions requests on the loyalty questions ({args.eos_requests} per "
        f"answers-to-EOS run, {args.requests} per other run), {result['cpus']} CPUs, median of "
        f"{result['rounds']} interleaved rounds"
    )
    columns = [("mode", 40), ("tok", 6), ("eos", 5), ("wall s", 8), ("tok/s", 8)]
    columns += [("lat p50", 9), ("lat p95", 9), ("ttft p95", 10), ("load 1m", 14)]
    keys = ["mode", "tokens", "ended_at_eos", "wall_s", "tokens_per_s", "latency_p50_s"]
    keys += ["latency_p95_s", "ttft_p95_s"]
    _print_table(columns, [[*(row[key] for key in keys), _load(row)] for row in result["phases"]])
    for key, label in (
        ("batching_ratio_eos_answers", f"{args.concurrency} at a time / one at a time, EOS"),
        ("batching_ratio_fixed_length", f"{args.concurrency} at a time / one at a time, fixed"),
        ("sampling_ratio", "temperature 1 / greedy (batched)"),
        ("sampling_ratio_top_p", "temperature 1 top-p 0.9 / greedy (batched)"),
    ):
        ratio = result[key]
        print(f"{label:<48} {ratio['ratio']}x (per round: {ratio['per_round']})")


def _print_table(columns: list[tuple[str, int]], rows: list[list[Any]]) -> None:
    """A header and rows: the first column left-aligned, the others right-aligned."""
    for cells in [[title for title, _ in columns], *rows]:
        first, *rest = (str(cell) for cell in cells)
        widths = [width for _, width in columns]
        aligned = (f"{cell:>{width}}" for cell, width in zip(rest, widths[1:], strict=True))
        print(f"{first:<{widths[0]}}" + "".join(aligned))


def _load(row: dict[str, Any]) -> str:
    return "→".join(str(value) for value in row["load_1m"])


def _cpu_text(row: dict[str, Any]) -> str:
    return " ".join(f"{name} {ms}" for name, ms in row["cpu_ms_per_request"].items())


def _print_gateway(result: dict[str, Any]) -> None:
    print(
        f"gateway overhead: {result['requests']} streaming /v1/completions requests (greedy, "
        f"{result['new_tokens']} new tokens each), {result['concurrency']} at a time, direct "
        f"to the native server and through the gateway, {result['rounds']} rounds "
        f"(order flips every round), {result['cpus']} CPUs; load average "
        f"{result['load_average_start']} at the start, {result['load_average_end']} at the end"
    )
    columns = [("route", 9), ("run", 5), ("wall s", 8), ("tok/s", 8), ("req/s", 7)]
    columns += [("lat p50", 9), ("lat p95", 9), ("ttft p50", 10), ("ttft p95", 10)]
    columns += [("load 1m", 13), ("CPU ms/request", 30)]
    figures, runs, means = list(_AVERAGED), result["runs"], result["mean"]
    rows = [[r["route"], r["round"], r["wall_s"], *(r[k] for k in figures), _load(r)] for r in runs]
    rows += [[r["route"], "mean", "", *(r[k] for k in figures), ""] for r in means]
    cpu = [_cpu_text(row) for row in [*runs, *means]]
    _print_table(columns, [[*row, text] for row, text in zip(rows, cpu, strict=True)])
    print(
        f"throughput gateway / direct: {result['throughput_ratio']}x (goal >= 0.9; per round: "
        f"{result['throughput_ratio_per_round']})"
    )


async def bench(servers: Servers, args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    if "engine" in args.parts:
        result = await bench_engine(servers.native.url, servers.native.model, args)
    if "gateway" in args.parts:
        assert servers.gateway is not None  # main() makes sure of it
        result["gateway"] = await bench_gateway(servers.native, servers.gateway, args)
    return result


def _save_gateway(figures: dict[str, Any], folder: Path) -> None:
    from myretail_testkit.processes import display_path

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "inference_gateway.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"figures: {display_path(path)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=PARTS,
        default=list(PARTS),
        help="engine: batching and sampling; gateway: the gateway's overhead (default: both)",
    )
    parser.add_argument("--url", help="benchmark a running service (default: serve locally)")
    parser.add_argument("--model", default="loyalty-assistant", help="model id with --url")
    parser.add_argument("--gateway-url", help="with --url: a gateway in front of that service")
    parser.add_argument(
        "--gateway-model", default="loyalty-assistant", help="model id with --gateway-url"
    )
    parser.add_argument("--requests", type=int, default=32, help="per fixed-length run")
    parser.add_argument("--eos-requests", type=int, default=96, help="per answers-to-EOS run")
    parser.add_argument("--gateway-requests", type=int, default=96, help="per gateway-part run")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="interleaved rounds (engine: the median round is shown; gateway: every run "
        "and the mean)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--save", action="store_true", help="write the gateway part's figures to --results"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="folder for --save")
    args = parser.parse_args(argv)
    if args.url and "gateway" in args.parts and not args.gateway_url:
        parser.error("--parts gateway with --url needs --gateway-url")

    if args.url:
        gateway = Endpoint(args.gateway_url, args.gateway_model) if args.gateway_url else None
        result = asyncio.run(bench(Servers(Endpoint(args.url, args.model), gateway), args))
    else:
        with local_servers(args.concurrency, "gateway" in args.parts) as servers:
            result = asyncio.run(bench(servers, args))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        if "engine" in args.parts:
            _print_engine(result, args)
        if "gateway" in args.parts:
            _print_gateway(result["gateway"])
    if args.save and "gateway" in result:
        _save_gateway(result["gateway"], args.results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
