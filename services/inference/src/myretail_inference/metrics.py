"""Prometheus metrics of the inference engine (on the app's own registry)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from myretail_inference.engine_api import Finished, ModelInfo

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_BATCH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256)


class InferenceMetrics:
    """Implements :class:`myretail_inference.engine.EngineObserver`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "inference_requests_total",
            "Generation requests by outcome (stop, length, cancelled, timeout, error, "
            "rejected_queue_full, rejected_not_ready)",
            ["outcome"],
            registry=registry,
        )
        self.latency = Histogram(
            "inference_request_duration_seconds",
            "Time from submission to the last token (queue time included)",
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.ttft = Histogram(
            "inference_time_to_first_token_seconds",
            "Time from submission to the first generated token",
            buckets=_TTFT_BUCKETS,
            registry=registry,
        )
        self.generated_tokens = Counter(
            "inference_generated_tokens_total", "Tokens generated", registry=registry
        )
        self.prompt_tokens = Counter(
            "inference_prompt_tokens_total", "Prompt tokens processed", registry=registry
        )
        self.queue_depth = Gauge(
            "inference_queue_depth", "Requests waiting for a batch slot", registry=registry
        )
        self.active = Gauge(
            "inference_active_sequences", "Sequences in the running batch", registry=registry
        )
        self.batch_size = Histogram(
            "inference_batch_size",
            "Sequences per forward pass",
            ["phase"],
            buckets=_BATCH_BUCKETS,
            registry=registry,
        )
        self.forward_seconds = Histogram(
            "inference_forward_pass_seconds",
            "Duration of one forward pass",
            ["phase"],
            registry=registry,
        )
        self.model_info = Gauge(
            "inference_model_info",
            "The served model (value 1)",
            ["model", "tag", "quantization", "device"],
            registry=registry,
        )
        for outcome in ("stop", "length", "cancelled", "timeout", "error"):
            self.requests.labels(outcome)

    def set_model(self, info: ModelInfo) -> None:
        self.model_info.labels(info.name, info.tag, info.quantization, info.device).set(1)

    # EngineObserver

    def request_submitted(self) -> None:
        pass

    def request_rejected(self, reason: str) -> None:
        self.requests.labels(f"rejected_{reason}").inc()

    def first_token(self, seconds: float) -> None:
        self.ttft.observe(seconds)

    def request_finished(self, finished: Finished, seconds: float) -> None:
        self.requests.labels(finished.finish_reason).inc()
        self.generated_tokens.inc(finished.completion_tokens)
        self.prompt_tokens.inc(finished.prompt_tokens)
        if finished.finish_reason in ("stop", "length"):
            self.latency.observe(seconds)

    def forward_pass(self, kind: str, batch_size: int, seconds: float) -> None:
        self.batch_size.labels(kind).observe(batch_size)
        self.forward_seconds.labels(kind).observe(seconds)

    def occupancy(self, queue_depth: int, active: int) -> None:
        self.queue_depth.set(queue_depth)
        self.active.set(active)
