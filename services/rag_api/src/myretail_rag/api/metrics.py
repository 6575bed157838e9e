"""The RAG API's Prometheus metrics (beside the HTTP metrics every service has)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Answers, their latency, dependency failures and catalog loads."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.answers = Counter("rag_answers_total", "Answers by mode", ["mode"], registry=registry)
        self.answer_seconds = Histogram(
            "rag_answer_seconds",
            "Time to answer /generate",
            ["mode"],
            registry=registry,
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
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
            "rag_catalog_products", "Products in the live catalog", registry=registry
        )
