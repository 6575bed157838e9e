"""Prometheus metrics of the inference service (on the app's own registry).

Request metrics carry a ``tag`` label: the published model tag that answered (the stable
tag, or the canary's), so a canary that answers worse shows on its own. Label values stay
bounded: outcomes, phases and the few served tags, never prompts or session ids.
Queue depth and active sequences are summed over the served tags; the KV-cache usage is
the fullest engine's (a remote engine reports none: its upstream's own metrics show it).
"""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from myretail_inference.engine_api import Finished, ModelInfo

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_ITL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2.5)
_BATCH_BUCKETS = (1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 128, 256)
OUTCOMES = ("stop", "length", "cancelled", "timeout", "error", "unavailable")


class InferenceMetrics:
    """Every inference metric; :meth:`observer` gives each served tag's engine its observer."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "inference_requests_total",
            "Generation requests by outcome (stop, length, cancelled, timeout, error, "
            "unavailable, rejected_queue_full, rejected_not_ready) and answering tag",
            ["outcome", "tag"],
            registry=registry,
        )
        self.latency = Histogram(
            "inference_request_duration_seconds",
            "Time from submission to the last token (queue time included)",
            ["tag"],
            buckets=_LATENCY_BUCKETS,
            registry=registry,
        )
        self.ttft = Histogram(
            "inference_time_to_first_token_seconds",
            "Time from submission to the first generated token",
            ["tag"],
            buckets=_TTFT_BUCKETS,
            registry=registry,
        )
        self.inter_token = Histogram(
            "inference_inter_token_latency_seconds",
            "Mean time between a request's generated tokens after the first (one "
            "observation per finished request of two or more tokens)",
            ["tag"],
            buckets=_ITL_BUCKETS,
            registry=registry,
        )
        self.generated_tokens = Counter(
            "inference_generated_tokens_total", "Tokens generated", ["tag"], registry=registry
        )
        self.prompt_tokens = Counter(
            "inference_prompt_tokens_total", "Prompt tokens processed", ["tag"], registry=registry
        )
        self.queue_depth = Gauge(
            "inference_queue_depth",
            "Requests waiting for a batch slot (remote engine: waiting for their first token)",
            registry=registry,
        )
        self.active = Gauge(
            "inference_active_sequences", "Sequences in the running batch", registry=registry
        )
        self.kv_cache_usage = Gauge(
            "inference_kv_cache_usage_ratio",
            "Share (0..1) of the native engine's KV-cache token budget its running requests "
            "may reach; the fullest engine's when several tags are served",
            registry=registry,
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
            "A served model tag (value 1; one series per tag, the canary's included)",
            ["model", "tag", "quantization", "device"],
            registry=registry,
        )
        self._lock = threading.Lock()
        self._occupancy: dict[str, tuple[int, int]] = {}
        self._kv_usage: dict[str, float] = {}

    def set_model(self, info: ModelInfo) -> None:
        self.model_info.labels(info.name, info.tag, info.quantization, info.device).set(1)
        for outcome in OUTCOMES:
            self.requests.labels(outcome, info.tag)

    def observer(self, tag: str) -> TagObserver:
        """The engine observer of the engine serving ``tag``."""
        return TagObserver(self, tag)

    def set_occupancy(self, tag: str, queue_depth: int, active: int) -> None:
        with self._lock:
            self._occupancy[tag] = (queue_depth, active)
            self.queue_depth.set(sum(depth for depth, _ in self._occupancy.values()))
            self.active.set(sum(running for _, running in self._occupancy.values()))

    def set_kv_usage(self, tag: str, ratio: float) -> None:
        with self._lock:
            self._kv_usage[tag] = ratio
            self.kv_cache_usage.set(max(self._kv_usage.values()))


class TagObserver:
    """Implements :class:`myretail_inference.engine_api.EngineObserver` for one tag."""

    def __init__(self, metrics: InferenceMetrics, tag: str) -> None:
        self.metrics = metrics
        self.tag = tag

    def request_submitted(self) -> None:
        pass

    def request_rejected(self, reason: str) -> None:
        self.metrics.requests.labels(f"rejected_{reason}", self.tag).inc()

    def first_token(self, seconds: float) -> None:
        self.metrics.ttft.labels(self.tag).observe(seconds)

    def request_finished(self, finished: Finished, seconds: float) -> None:
        metrics, tag = self.metrics, self.tag
        metrics.requests.labels(finished.finish_reason, tag).inc()
        metrics.generated_tokens.labels(tag).inc(finished.completion_tokens)
        metrics.prompt_tokens.labels(tag).inc(finished.prompt_tokens)
        if finished.finish_reason not in ("stop", "length"):
            return
        metrics.latency.labels(tag).observe(seconds)
        first = finished.time_to_first_token
        if first is not None and finished.completion_tokens > 1:
            gaps = finished.completion_tokens - 1
            metrics.inter_token.labels(tag).observe(max(0.0, seconds - first) / gaps)

    def forward_pass(self, kind: str, batch_size: int, seconds: float) -> None:
        self.metrics.batch_size.labels(kind).observe(batch_size)
        self.metrics.forward_seconds.labels(kind).observe(seconds)

    def occupancy(self, queue_depth: int, active: int) -> None:
        self.metrics.set_occupancy(self.tag, queue_depth, active)

    def kv_cache_usage(self, ratio: float) -> None:
        self.metrics.set_kv_usage(self.tag, ratio)
