"""Retrieval evaluation of the RAG API's catalog search: recall@5 and MRR.

    python bench/retrieval_eval.py [--queries bench/retrieval_queries.yaml]
                                   [--catalog data/catalog.csv] [--qdrant-path DIR] [-v]

Loads the catalog into a temporary embedded Qdrant (or uses ``--qdrant-path``, already
loaded) with the real embedding model, then runs every labelled query the way
``POST /generate`` runs a first message: the query rules (``myretail_rag.query``) and the
constraint-aware search (``myretail_rag.retriever``). For comparison it also runs plain
vector search (no rules).

A product is relevant when its attributes match the query's labels. With R relevant
products in the catalog, recall@5 = (relevant products in the top 5) / min(5, R), so 1.0
means the top 5 are all relevant (or all relevant products are in it); MRR is the mean of
1 / rank of the first relevant product (0 when none is in the top 5).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the console scripts do
ROOT = Path(__file__).resolve().parents[1]
K = 5


def relevant(metadata: dict[str, Any], labels: dict[str, Any]) -> bool:
    for key, allowed in labels.items():
        if key == "max_price":
            if float(metadata.get("price", 0)) > float(allowed):
                return False
        elif key == "min_price":
            if float(metadata.get("price", 0)) < float(allowed):
                return False
        elif metadata.get(key) not in allowed:
            return False
    return True


def score(ranked: list[dict[str, Any]], labels: dict[str, Any], total: int) -> tuple[float, float]:
    hits = [relevant(metadata, labels) for metadata in ranked[:K]]
    recall = sum(hits) / min(K, total) if total else 0.0
    first = next((rank for rank, hit in enumerate(hits, start=1) if hit), None)
    return recall, (1.0 / first if first else 0.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", default=str(ROOT / "bench" / "retrieval_queries.yaml"))
    parser.add_argument("--catalog", default=str(ROOT / "data" / "catalog.csv"))
    parser.add_argument("--qdrant-path", help="an embedded Qdrant folder already loaded")
    parser.add_argument("-v", "--verbose", action="store_true", help="one line per query")
    args = parser.parse_args(argv)

    from myretail_rag.catalog.embeddings import load_embeddings
    from myretail_rag.catalog.loading import load_products
    from myretail_rag.catalog.schema import parse_catalog
    from myretail_rag.catalog.vector_store import CatalogStore
    from myretail_rag.settings import RagSettings
    from myretail_rag.understanding.constraints import Constraints
    from myretail_rag.understanding.search import CatalogSearch

    queries = yaml.safe_load(Path(args.queries).read_text())["queries"]
    products = parse_catalog(Path(args.catalog).read_bytes())
    catalog = [product.metadata() for product in products]
    with tempfile.TemporaryDirectory(prefix="retrieval-eval-") as scratch:
        path = args.qdrant_path or str(Path(scratch) / "qdrant")
        settings = RagSettings(qdrant_path=path, log_level="WARNING")
        embeddings = load_embeddings(settings)
        store = CatalogStore.from_settings(settings, embeddings.identity)
        try:
            if not args.qdrant_path:
                started = time.perf_counter()
                load_products(products, store, embeddings, source=args.catalog)
                print(
                    f"loaded {len(products)} products in {time.perf_counter() - started:.1f} s",
                    file=sys.stderr,
                )
            search = CatalogSearch(store, embeddings)
            totals = {"rules": [0.0, 0.0], "vector": [0.0, 0.0]}
            for item in queries:
                labels = item["relevant"]
                total = sum(relevant(metadata, labels) for metadata in catalog)
                parsed = search.parse(item["query"])
                ruled = [h.metadata for h in search.search(item["query"], parsed.constraints, K)]
                plain = [h.metadata for h in search.search(item["query"], Constraints(), K)]
                for name, ranked in (("rules", ruled), ("vector", plain)):
                    recall, reciprocal = score(ranked, labels, total)
                    totals[name][0] += recall
                    totals[name][1] += reciprocal
                if args.verbose:
                    recall, reciprocal = score(ruled, labels, total)
                    print(f"{recall:4.2f} {reciprocal:4.2f}  {item['query']}")
        finally:
            store.close()
    count = len(queries)
    print(f"queries: {count}, catalog: {len(products)} products, k={K}")
    print(
        f"retrieval (query rules + vector search): recall@5 {totals['rules'][0] / count:.3f}, "
        f"MRR {totals['rules'][1] / count:.3f}"
    )
    print(
        f"plain vector search (baseline):          recall@5 {totals['vector'][0] / count:.3f}, "
        f"MRR {totals['vector'][1] / count:.3f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
