"""RAG API benchmark: catalog ingestion throughput and retrieval-only query latency.

    python bench/rag_bench.py [--products 20000] [--queries 3]

Ingestion. For the sample catalog and for a generated catalog of ``--products``
products (variants of the sample products: other ids, colours, prices and model
suffixes), the same product texts are embedded twice in one run, side by side:

* raw: ``embed_documents`` of the embedding model alone, batch after batch (for the
  sample catalog measured before and after the ingestion run, and averaged);
* ingestion: ``myretail_rag.ingest.load_products`` into a fresh embedded Qdrant (a new
  collection with metadata, embed and upsert pipelined, count check, alias switch).

It prints products per second for both and their ratio (ingestion / raw; the goal is
>= 0.8: ingestion costs little beyond the embedding itself).

Latency. At the generated catalog's size it answers the labelled shopper queries of
``bench/retrieval_queries.yaml`` in retrieval-only mode through the real app
(``POST /generate`` over ASGI: query rules, query embedding, search, table, SQLite
history) ``--queries`` times each, and prints p50/p95 (goal: p95 < 100 ms on 2 cores).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the console scripts do
ROOT = Path(__file__).resolve().parents[1]
COLOURS = ["Black", "Navy", "Grey", "White", "Brown", "Olive", "Burgundy", "Tan", "Blue", "Red"]
SUFFIXES = ["", " II", " Plus", " Lite", " Pro", " X", " 2", " 3", " Max", " Edge"]


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
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        embeddings.embed_documents(texts[start : start + batch])
    return len(texts) / (time.perf_counter() - started)


def ingest_rate(products: list, embeddings, folder: Path, batch: int):
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=20_000)
    parser.add_argument("--queries", type=int, default=3, help="passes over the query set")
    parser.add_argument("--batch", type=int, default=256, help="products per batch")
    args = parser.parse_args(argv)

    from fastapi.testclient import TestClient

    from myretail_rag.api.app import create_app
    from myretail_rag.catalog.embeddings import load_embeddings
    from myretail_rag.catalog.schema import parse_catalog
    from myretail_rag.catalog.vector_store import CatalogStore
    from myretail_rag.conversation.history import SQLiteHistory
    from myretail_rag.settings import RagSettings

    sample = parse_catalog((ROOT / "data" / "catalog.csv").read_bytes())
    big = generated_catalog(sample, args.products)
    queries = yaml.safe_load((ROOT / "bench" / "retrieval_queries.yaml").read_text())["queries"]
    print(f"loading the embedding model ... (cpu threads: {os.cpu_count()})", file=sys.stderr)
    embeddings = load_embeddings(RagSettings(log_level="WARNING"))
    embeddings.embed_documents([p.text() for p in sample[:64]])  # warm-up

    with tempfile.TemporaryDirectory(prefix="rag-bench-") as scratch:
        folder = Path(scratch)
        rows = []
        for label, products in (("sample catalog", sample), (f"generated {len(big)}", big)):
            texts = [product.text() for product in products]
            print(f"{label}: raw embedding ...", file=sys.stderr)
            raws = [raw_rate(embeddings, texts, args.batch)]
            print(f"{label}: ingestion ...", file=sys.stderr)
            ingest = ingest_rate(products, embeddings, folder / label.replace(" ", "-"), args.batch)
            if len(products) <= 5000:  # cheap enough to bracket the ingestion run
                print(f"{label}: raw embedding again ...", file=sys.stderr)
                raws.append(raw_rate(embeddings, texts, args.batch))
            rows.append((label, len(products), statistics.fmean(raws), ingest))

        print("\n== ingestion (same texts, same model, one run)")
        print(f"{'catalog':<18} {'products':>8} {'raw embed/s':>12} {'ingest/s':>9} {'ratio':>6}")
        for label, count, raw, ingest in rows:
            print(f"{label:<18} {count:>8} {raw:>12.1f} {ingest:>9.1f} {ingest / raw:>6.2f}")

        # Latency at the generated catalog's size, retrieval-only, through the app.
        path = folder / f"generated-{len(big)}"
        settings = RagSettings(qdrant_path=str(path), chat_provider="none", log_level="WARNING")
        store = CatalogStore.from_settings(settings, embeddings.identity)
        history = SQLiteHistory(folder / "history.db", 3600)
        app = create_app(settings, embeddings=embeddings, vector_store=store, history=history)
        timings: list[float] = []
        with TestClient(app) as client:
            for item in queries[:5]:  # warm-up
                client.post("/generate", json={"prompt": item["query"]})
            for _ in range(args.queries):
                for item in queries:
                    started = time.perf_counter()
                    response = client.post("/generate", json={"prompt": item["query"]})
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, response.text
        store.close()
        history.close()
    print(f"\n== retrieval-only POST /generate at {len(big)} products ({len(timings)} requests)")
    print(
        f"p50 {percentile(timings, 0.50):.1f} ms, p95 {percentile(timings, 0.95):.1f} ms, "
        f"mean {statistics.fmean(timings):.1f} ms, max {max(timings):.1f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
