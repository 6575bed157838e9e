"""The RAG API's Prometheus metrics (beside the HTTP metrics every service has).

Labels stay bounded: answer modes, dependencies, load outcomes and history operations, never
questions or session ids. The failure and load series exist from the start (at 0), so a
dashboard's rate reads 0 rather than "no data" before the first one; an answer mode's series
appears with its first answer.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from myretail_rag.catalog.vector_store import CatalogState
from myretail_rag.conversation.assistant import HISTORY_UNREADABLE, HISTORY_UNSAVED, Mode

#: The dependencies a 503 names (myretail_rag.api.errors); others are counted when they occur.
DEPENDENCIES = ("catalog", "vector store", "embedding model", "chat history store", "chat model")
LOAD_OUTCOMES = ("loaded", "failed")
#: The answer warning that says a chat-history operation failed (the turn degraded, no 503).
HISTORY_WARNINGS = {HISTORY_UNREADABLE: "read", HISTORY_UNSAVED: "write"}
_HIT_BUCKETS = (0, 1, 2, 3, 5, 8, 10, 15, 20, 30, 50)
_SEARCH_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class Metrics:
    """Answers, their latency, catalog searches, query embedding batches, dependency and
    chat-history failures, catalog loads and the catalog's state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.answers = Counter("rag_answers_total", "Answers by mode", ["mode"], registry=registry)
        self.answer_seconds = Histogram(
            "rag_answer_seconds",
            "Time to answer /generate",
            ["mode"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self.search_seconds = Histogram(
            "rag_retrieval_seconds",
            "Time of one catalog search in the vector store (the question already embedded)",
            registry=registry,
            buckets=_SEARCH_BUCKETS,
        )
        self.search_hits = Histogram(
            "rag_retrieval_hits",
            "Products one catalog search returned",
            registry=registry,
            buckets=_HIT_BUCKETS,
        )
        self.empty_searches = Counter(
            "rag_retrieval_empty_total",
            "Catalog searches that found no product, even with the constraints relaxed",
            registry=registry,
        )
        self.history_failures = Counter(
            "rag_history_failures_total",
            "Chat-history reads and writes that failed (the turn was answered without them)",
            ["operation"],
            registry=registry,
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
        for dependency in DEPENDENCIES:
            self.failures.labels(dependency)
        for outcome in LOAD_OUTCOMES:
            self.loads.labels(outcome)
        for operation in HISTORY_WARNINGS.values():
            self.history_failures.labels(operation)

    def watch_query_queue(self, waiting: Callable[[], float]) -> None:
        self.query_waiting.set_function(waiting)

    def record_query_batch(self, size: int, seconds: float) -> None:
        """One model call of the query batcher: its questions and how long it took."""
        self.query_batch_size.observe(size)
        self.query_batch_seconds.observe(seconds)

    def record_search(self, hits: int, seconds: float) -> None:
        """One catalog search: how many products it found and how long it took."""
        self.search_seconds.observe(seconds)
        self.search_hits.observe(hits)
        if hits == 0:
            self.empty_searches.inc()

    def record_answer(self, mode: Mode, seconds: float, warnings: list[str]) -> None:
        """One answer: its mode, its time, and the chat-history failures it warns about."""
        self.answers.labels(mode).inc()
        self.answer_seconds.labels(mode).observe(seconds)
        for warning in warnings:
            if warning in HISTORY_WARNINGS:
                self.history_failures.labels(HISTORY_WARNINGS[warning]).inc()

    def record_catalog(self, state: CatalogState) -> None:
        self.products.set(state.products)
        self.loaded_at.set(state.loaded_at.timestamp() if state.loaded_at else 0)
