"""The RAG API's Prometheus metrics (beside the HTTP metrics every service has)."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from myretail_rag.catalog.vector_store import CatalogState


class Metrics:
    """Answers, their latency, query embedding batches, dependency failures, catalog loads
    and the catalog's state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.answers = Counter("rag_answers_total", "Answers by mode", ["mode"], registry=registry)
        self.answer_seconds = Histogram(
            "rag_answer_seconds",
            "Time to answer /generate",
            ["mode"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.query_batch_size = Histogram(
            "rag_query_embedding_batch_size",
            "Questions embedded together in one model call (count: model calls)",
            registry=registry,
            buckets=(1, 2, 4, 8, 16, 32, 64, 128),
        )
        self.query_batch_seconds = Histogram(
            "rag_query_embedding_batch_seconds",
            "Time of one model call of the query batcher",
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
        )
        self.query_waiting = Gauge(
            "rag_query_embeddings_waiting",
            "Questions queued for the next query embedding batch",
            registry=registry,
        )
        self.failures = Counter(
            "rag_dependency_failures_total",
            "Requests answered 503, by dependency",
            ["dependency"],
            registry=registry,
        )
        self.loads = Counter(
            "rag_catalog_loads_total", "Catalog loads by outcome", ["outcome"], registry=registry
        )
        self.products = Gauge(
            "rag_catalog_products",
            "Products in the live catalog (0: empty, being restored or loaded)",
            registry=registry,
        )
        self.loaded_at = Gauge(
            "rag_catalog_loaded_timestamp_seconds",
            "When the live catalog was loaded or restored (Unix time; 0: empty or unknown)",
            registry=registry,
        )

    def watch_query_queue(self, waiting: Callable[[], float]) -> None:
        self.query_waiting.set_function(waiting)

    def record_query_batch(self, size: int, seconds: float) -> None:
        """One model call of the query batcher: its questions and how long it took."""
        self.query_batch_size.observe(size)
        self.query_batch_seconds.observe(seconds)

    def record_catalog(self, state: CatalogState) -> None:
        self.products.set(state.products)
        self.loaded_at.set(state.loaded_at.timestamp() if state.loaded_at else 0)
