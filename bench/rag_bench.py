"""RAG API benchmark: catalog ingestion, query latency, and the API under concurrent load.

    python bench/rag_bench.py [--parts ingestion,latency,load] [--products 20000]

Ingestion. For the sample catalog and for a generated catalog of ``--products``
products (variants of the sample products: other ids, colours, prices and model
suffixes), the same product texts are embedded twice in one run, side by side:

* raw: ``embed_documents`` of the embedding model alone, batch after batch (for the
  sample catalog measured before and after the ingestion run, and averaged);
* ingestion: ``myretail_rag.catalog.loading.load_products`` into a fresh embedded Qdrant
  (a new collection with metadata, embed and upsert pipelined, count check, alias switch).

It prints products per second for both and their ratio (ingestion / raw; the goal is
>= 0.8: ingestion costs little beyond the embedding itself).

Latency. At the generated catalog's size it answers the labelled shopper queries of
``bench/retrieval_queries.yaml`` in retrieval-only mode through the real app
(``POST /generate`` over ASGI: query rules, query embedding, search, table, SQLite
history) ``--queries`` times each, and prints p50/p95 (goal: p95 < 100 ms on 2 cores).

Load. ``myretail-rag`` serves the sample catalog (embedded Qdrant, SQLite history,
retrieval-only: what ``make demo`` runs without a chat model) in its own process, and
``--requests`` retrieval-only ``POST /generate`` requests (the labelled queries, each in a
new session) go to it over HTTP at each of ``--concurrency`` (1, 8, 20, 50 in flight):
requests per second and p50/p95 latency. Beside them, in the same run, the raw batched
embedding throughput of the same query texts (``embed_documents`` in batches of
``--raw-batch``, 32, the model alone on every core, the service idle; measured before and
after the levels, and averaged). Goals at
concurrency 20: requests/s >= 0.5 x raw embeddings/s, p95 < 1 s. The figures and a plot
of latency and throughput against concurrency are saved under ``bench/results/``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the console scripts do
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
COLOURS = ["Black", "Navy", "Grey", "White", "Brown", "Olive", "Burgundy", "Tan", "Blue", "Red"]
SUFFIXES = ["", " II", " Plus", " Lite", " Pro", " X", " 2", " 3", " Max", " Edge"]
PARTS = ("ingestion", "latency", "load")


def generated_catalog(products: list, count: int, seed: int = 7) -> list:
    """``count`` products varied from the sample ones (deterministic)."""
    rng = random.Random(seed)
    out = []
    for number in range(count):
        base = products[number % len(products)]
        colour = rng.choice(COLOURS)
        out.append(
            replace(
                base,
                product_id=f"GEN-{number:06d}",
                name=f"{base.name}{rng.choice(SUFFIXES)} ({colour})",
                color=colour,
                price=round(max(5.0, base.price * rng.uniform(0.8, 1.25)), 2),
                rating=round(min(5.0, max(1.0, base.rating + rng.uniform(-0.5, 0.5))), 1),
            )
        )
    return out


def raw_rate(embeddings, texts: list[str], batch: int) -> float:
    """Texts per second of ``embed_documents`` alone, ``batch`` texts per call."""
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        embeddings.embed_documents(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def load_catalog(products: list, embeddings, folder: Path, batch: int) -> float:
    """Load ``products`` into embedded Qdrant at ``folder``; products per second."""
    from myretail_rag.catalog.loading import load_products
    from myretail_rag.catalog.vector_store import CatalogStore
    from myretail_rag.settings import RagSettings

    settings = RagSettings(qdrant_path=str(folder), log_level="WARNING")
    store = CatalogStore.from_settings(settings, embeddings.identity)
    try:
        result = load_products(products, store, embeddings, source="bench", batch_size=batch)
        assert store.count() == len(products)
    finally:
        store.close()
    return result.rate


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return ordered[index]


# -- ingestion and single-request latency ---------------------------------------------------


def bench_ingestion(embeddings, catalogs: list[tuple[str, list]], folder: Path, batch: int):
    rows = []
    for label, products in catalogs:
        texts = [product.text() for product in products]
        print(f"{label}: raw embedding ...", file=sys.stderr)
        raws = [raw_rate(embeddings, texts, batch)]
        print(f"{label}: ingestion ...", file=sys.stderr)
        ingest = load_catalog(products, embeddings, folder / label.replace(" ", "-"), batch)
        if len(products) <= 5000:  # cheap enough to bracket the ingestion run
            print(f"{label}: raw embedding again ...", file=sys.stderr)
            raws.append(raw_rate(embeddings, texts, batch))
        rows.append((label, len(products), statistics.fmean(raws), ingest))
    print("\n== ingestion (same texts, same model, one run)")
    print(f"{'catalog':<18} {'products':>8} {'raw embed/s':>12} {'ingest/s':>9} {'ratio':>6}")
    for label, count, raw, ingest in rows:
        print(f"{label:<18} {count:>8} {raw:>12.1f} {ingest:>9.1f} {ingest / raw:>6.2f}")


def bench_latency(
    embeddings, qdrant: Path, products: int, folder: Path, queries: list[str], passes: int
):
    """Retrieval-only ``POST /generate`` one at a time through the app (over ASGI)."""
    from fastapi.testclient import TestClient

    from myretail_rag.api.app import create_app
    from myretail_rag.catalog.vector_store import CatalogStore
    from myretail_rag.conversation.history import SQLiteHistory
    from myretail_rag.settings import RagSettings

    settings = RagSettings(qdrant_path=str(qdrant), chat_provider="none", log_level="WARNING")
    store = CatalogStore.from_settings(settings, embeddings.identity)
    history = SQLiteHistory(folder / "latency-history.db", 3600)
    app = create_app(settings, embeddings=embeddings, vector_store=store, history=history)
    timings: list[float] = []
    try:
        with TestClient(app) as client:
            for query in queries[:5]:  # warm-up
                client.post("/generate", json={"prompt": query})
            for _ in range(passes):
                for query in queries:
                    started = time.perf_counter()
                    response = client.post("/generate", json={"prompt": query})
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.text
    finally:
        store.close()
        history.close()
    print(f"\n== retrieval-only POST /generate at {products} products ({len(timings)} requests)")
    print(
        f"p50 {percentile(timings, 0.50):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms, "
        f"mean {statistics.fmean(timings):.1f} ms, max {max(timings):.1f} ms"
    )


# -- load: the API in its own process, many requests in flight ------------------------------


@dataclass
class LoadLevel:
    concurrency: int
    requests: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    max_ms: float
    server_cpu_ms: float  # CPU time of the service per request (all its threads)
    client_cpu_ms: float  # CPU time of this load generator per request


def serve_rag_api(qdrant: Path, folder: Path):
    """``myretail-rag`` over ``qdrant`` (retrieval-only) in its own process, ready."""
    from myretail_common.ports import free_port
    from myretail_testkit.processes import Supervised, http_ok

    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "QDRANT_PATH": str(qdrant),
        "HISTORY_URL": f"sqlite:///{folder / 'load-history.db'}",
        "CHAT_PROVIDER": "none",
    }
    server = Supervised(
        [sys.executable, "-c", "from myretail_rag.api.serve import main; raise SystemExit(main())"],
        log_path=folder / "rag-api.log",
        name="myretail-rag",
        env=env,
        ports={"PORT": port},
    )
    server.start_ready(http_ok(f"http://127.0.0.1:{port}/readyz"), timeout=600)
    return server, f"http://127.0.0.1:{port}"


async def run_level(
    url: str, queries: list[str], concurrency: int, total: int, server_pid: int
) -> LoadLevel:
    """``total`` requests, ``concurrency`` in flight at any time (one new session each).

    The load comes from aiohttp (with s3fs in the dev environment): on the same two cores
    as the service, a client that costs less CPU per request takes less from it."""
    import aiohttp
    import psutil

    server = psutil.Process(server_pid)
    timings: list[float] = []
    sent = iter(range(total))

    async def worker(session: aiohttp.ClientSession) -> None:
        for number in sent:
            started = time.perf_counter()
            body = {"prompt": queries[number % len(queries)]}
            async with session.post(f"{url}/generate", json=body) as response:
                text = await response.text()
            timings.append(time.perf_counter() - started)
            if response.status != 200:
                raise RuntimeError(f"/generate answered {response.status}: {text}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        server_cpu, client_cpu = cpu_seconds(server), cpu_seconds(psutil.Process())
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        seconds = time.perf_counter() - started
        server_cpu = cpu_seconds(server) - server_cpu
        client_cpu = cpu_seconds(psutil.Process()) - client_cpu
    return LoadLevel(
        concurrency,
        total,
        round(seconds, 2),
        round(total / seconds, 1),
        round(percentile(timings, 0.50) * 1000, 1),
        round(percentile(timings, 0.95) * 1000, 1),
        round(max(timings) * 1000, 1),
        round(server_cpu * 1000 / total, 2),
        round(client_cpu * 1000 / total, 2),
    )


def cpu_seconds(process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def bench_load(
    embeddings, qdrant: Path, folder: Path, queries: list[str], args: argparse.Namespace
) -> dict[str, Any]:
    batch = args.raw_batch
    texts = [queries[number % len(queries)] for number in range(args.requests)]
    print("load: starting myretail-rag ...", file=sys.stderr)
    server, url = serve_rag_api(qdrant, folder)
    levels: list[LoadLevel] = []
    raws: list[float] = []
    loads: list[float] = [load_average()]
    try:
        asyncio.run(run_level(url, queries, 8, 50, server.pid))  # warm-up
        raws.append(raw_rate(embeddings, texts, batch))
        for concurrency in args.concurrency:
            print(f"load: concurrency {concurrency} ...", file=sys.stderr)
            levels.append(
                asyncio.run(run_level(url, queries, concurrency, args.requests, server.pid))
            )
            loads.append(load_average())
        raws.append(raw_rate(embeddings, texts, batch))
    finally:
        server.stop()
    raw = statistics.fmean(raws)
    print(
        f"\n== retrieval-only POST /generate under load: {len(queries)} labelled queries, "
        f"{args.requests} requests per level, the sample catalog, myretail-rag over HTTP"
    )
    print(
        f"raw batched query embedding (batches of {batch}, same texts): {raw:.1f} queries/s "
        f"(runs: {', '.join(f'{value:.1f}' for value in raws)})"
    )
    print(
        f"{'in flight':>9} {'req/s':>7} {'x raw':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'CPU ms/req: service':>20} {'client':>7}"
    )
    for level in levels:
        print(
            f"{level.concurrency:>9} {level.requests_per_second:>7.1f} "
            f"{level.requests_per_second / raw:>6.2f} {level.p50_ms:>8.1f} "
            f"{level.p95_ms:>8.1f} {level.max_ms:>8.1f} {level.server_cpu_ms:>20.1f} "
            f"{level.client_cpu_ms:>7.1f}"
        )
    print(f"1-minute load average before and after each level: {loads} ({os.cpu_count()} CPUs)")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "cpus": os.cpu_count(),
        "load_average": loads,
        "raw_embeddings_per_second": round(raw, 1),
        "raw_runs": [round(value, 1) for value in raws],
        "raw_batch": batch,
        "levels": [asdict(level) for level in levels],
    }


def plot_load(figures: dict[str, Any], path: Path) -> None:
    """Latency (p50, p95) and throughput against concurrency, raw embedding beside."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = figures["levels"]
    x = [level["concurrency"] for level in levels]
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(10, 4))
    latency.plot(x, [level["p50_ms"] for level in levels], "o-", label="p50")
    latency.plot(x, [level["p95_ms"] for level in levels], "s-", label="p95")
    latency.axhline(1000, color="grey", linestyle=":", label="goal: p95 < 1 s")
    latency.set(xlabel="requests in flight", ylabel="latency (ms)", title="Latency")
    latency.legend()
    raw = figures["raw_embeddings_per_second"]
    throughput.plot(x, [level["requests_per_second"] for level in levels], "o-", label="RAG API")
    throughput.axhline(raw, color="tab:green", linestyle="--", label="raw batched embedding")
    throughput.axhline(raw / 2, color="grey", linestyle=":", label="goal: 0.5 x raw")
    throughput.set(xlabel="requests in flight", ylabel="requests/s", title="Throughput")
    throughput.legend()
    figure.suptitle(
        f"retrieval-only POST /generate, {figures['cpus']} CPUs, {figures['date']} "
        f"(load average {max(figures['load_average'])} at most)",
        fontsize=9,
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", default=",".join(PARTS), help="which parts to run")
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=3, help="latency: passes over the queries")
    parser.add_argument("--batch", type=int, default=256, help="ingestion: products per batch")
    parser.add_argument("--requests", type=int, default=200, help="load: requests per level")
    parser.add_argument(
        "--concurrency", type=lambda text: [int(n) for n in text.split(",")], default=[1, 8, 20, 50]
    )
    parser.add_argument(
        "--raw-batch", type=int, default=32, help="load: queries per raw embedding call"
    )
    parser.add_argument("--results", type=Path, default=RESULTS, help="load: figures and plot")
    args = parser.parse_args(argv)
    parts = set(args.parts.split(","))
    if not parts <= set(PARTS):
        parser.error(f"--parts: choose from {', '.join(PARTS)}")

    from myretail_rag.catalog.embeddings import load_embeddings
    from myretail_rag.catalog.schema import parse_catalog
    from myretail_rag.settings import RagSettings

    sample = parse_catalog((ROOT / "data" / "catalog.csv").read_bytes())
    big = generated_catalog(sample, args.products)
    labelled = yaml.safe_load((ROOT / "bench" / "retrieval_queries.yaml").read_text())
    queries = [str(item["query"]) for item in labelled["queries"]]
    print(f"loading the embedding model ... (cpu threads: {os.cpu_count()})", file=sys.stderr)
    embeddings = load_embeddings(RagSettings(log_level="WARNING"))
    embeddings.embed_documents([p.text() for p in sample[:64]])  # warm-up

    with tempfile.TemporaryDirectory(prefix="rag-bench-") as scratch:
        folder = Path(scratch)
        sample_qdrant = folder / "sample-catalog"
        big_qdrant = folder / f"generated-{len(big)}"
        if "ingestion" in parts:
            catalogs = [("sample catalog", sample), (f"generated {len(big)}", big)]
            if "latency" not in parts:
                catalogs = catalogs[:1]
            bench_ingestion(embeddings, catalogs, folder, args.batch)
        else:
            load_catalog(sample, embeddings, sample_qdrant, args.batch)
            if "latency" in parts:
                load_catalog(big, embeddings, big_qdrant, args.batch)
        if "latency" in parts:
            bench_latency(embeddings, big_qdrant, len(big), folder, queries, args.queries)
        if "load" in parts:
            figures = bench_load(embeddings, sample_qdrant, folder, queries, args)
            args.results.mkdir(parents=True, exist_ok=True)
            (args.results / "rag_load.json").write_text(json.dumps(figures, indent=2) + "\n")
            plot_load(figures, args.results / "rag_load.png")
            print(f"figures and plot: {args.results}/rag_load.json, rag_load.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
