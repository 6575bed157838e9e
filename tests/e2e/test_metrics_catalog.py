"""Every metric the chart's Grafana dashboards and alerts read is served by the live services.

``scripts/demo.py`` starts the real inference service (the tiny fine-tuned model), the RAG API
and the UI; after a few requests to each, their ``/metrics`` (the UI's on its own metrics
port) must hold every metric name a dashboard query or an alert expression of the prod render
uses, except the metrics of other exporters (vLLM, DCGM, kube-state-metrics), which are listed
here by name. Label names never carry sessions, prompts or users, and label values stay few
and short.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from myretail_testkit.browser import ChatPage
from myretail_testkit.promql import dashboard_queries, metric_names
from myretail_testkit.rag import BOOK_QUESTION, metric_value

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "chart"))

from test_monitoring import prod_alert_rules  # noqa: E402  (the chart tests' render)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    # Starts the stack (and, when no earlier suite needed it, trains the session's adapter).
    pytest.mark.timeout(1800),
]

# Metrics of other exporters: not served by our services, read by the dashboards and alerts.
VLLM = {
    "vllm:num_requests_waiting",
    "vllm:num_requests_running",
    "vllm:kv_cache_usage_perc",
    "vllm:time_to_first_token_seconds_bucket",
    "vllm:e2e_request_latency_seconds_bucket",
    "vllm:generation_tokens_total",
    "vllm:prompt_tokens_total",
}
DCGM = {"DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE"}
KUBE_STATE_METRICS = {
    "kube_deployment_status_replicas_available",
    "kube_deployment_spec_replicas",
    "kube_job_status_active",
    "kube_job_status_succeeded",
    "kube_job_status_failed",
}
OTHER_EXPORTERS = VLLM | DCGM | KUBE_STATE_METRICS
SERVICE_PORTS = ("INFERENCE_PORT", "RAG_API_PORT", "UI_METRICS_PORT")
UNBOUNDED = ("session", "prompt", "user", "question", "request_id")
MAX_VALUES_PER_LABEL = 25


@functools.cache
def _queried_metrics() -> dict[str, set[str]]:
    """metric name -> where it is read (dashboard file or alert name)."""
    where: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / "charts" / "myretail" / "dashboards").glob("*.json")):
        for query in dashboard_queries(json.loads(path.read_text())):
            for name in metric_names(query):
                where[name].add(path.name)
    for alert, rule in prod_alert_rules().items():
        for name in metric_names(rule["expr"]):
            where[name].add(alert)
    return dict(where)


def _exercise(stack: Any, browser: Any) -> None:
    """A few requests of every kind the dashboards show, and a shopper opening the chat."""
    ChatPage(browser.new_page(), stack.url("UI_PORT"), answer_timeout_s=120).open()
    rag, inference = stack.url("RAG_API_PORT"), stack.url("INFERENCE_PORT")
    with httpx.Client(timeout=120) as client:
        first = client.post(f"{rag}/generate", json={"prompt": BOOK_QUESTION})
        assert first.status_code == 200, first.text
        session = first.json()["session_id"]
        follow_up = {"prompt": "Sort them by price, descending", "session_id": session}
        assert client.post(f"{rag}/generate", json=follow_up).status_code == 200
        nothing = {"prompt": "a submarine periscope with sonar and torpedo tubes"}
        assert client.post(f"{rag}/generate", json=nothing).status_code == 200
        assert 400 <= client.post(f"{rag}/generate", json={"prompt": ""}).status_code < 500
        answer = client.post(
            f"{inference}/generate", json={"prompt": "What is MyElite?", "max_new_tokens": 8}
        )
        assert answer.status_code == 200, answer.text
        chat = {
            "model": client.get(f"{inference}/v1/models").json()["data"][0]["id"],
            "messages": [{"role": "user", "content": "How do I earn points?"}],
            "max_tokens": 8,
            "stream": True,
        }
        with client.stream("POST", f"{inference}/v1/chat/completions", json=chat) as stream:
            assert stream.status_code == 200
            stream.read()


def _scrape(stack: Any) -> dict[str, list[Any]]:
    """service port variable -> the samples of its /metrics."""
    samples = {}
    for variable in SERVICE_PORTS:
        response = httpx.get(f"{stack.url(variable)}/metrics", timeout=30)
        assert response.status_code == 200, variable
        families = text_string_to_metric_families(response.text)
        samples[variable] = [sample for family in families for sample in family.samples]
    return samples


@pytest.fixture(scope="module")
def served(demo_stack: Any, browser: Any) -> dict[str, list[Any]]:
    _exercise(demo_stack, browser)
    return _scrape(demo_stack)


def test_every_queried_metric_is_served(served: dict[str, list[Any]]) -> None:
    names = {sample.name for samples in served.values() for sample in samples}
    queried = _queried_metrics()
    missing = {
        name: sorted(where)
        for name, where in queried.items()
        if name not in names and name not in OTHER_EXPORTERS
    }
    assert missing == {}, f"read by a dashboard or alert, served by no service: {missing}"
    assert set(queried) >= OTHER_EXPORTERS, "an exporter's metric listed here is read nowhere"
    assert not OTHER_EXPORTERS & names, "listed as another exporter's, but ours serves it"


def test_each_service_serves_its_own_metrics(served: dict[str, list[Any]]) -> None:
    prefixes = {"INFERENCE_PORT": "inference_", "RAG_API_PORT": "rag_", "UI_METRICS_PORT": "ui_"}
    for variable, prefix in prefixes.items():
        names = {sample.name for sample in served[variable]}
        assert any(n.startswith(prefix) for n in names), variable
        assert "http_requests_total" in names and "http_request_duration_seconds_count" in names


def test_labels_are_bounded(served: dict[str, list[Any]]) -> None:
    values: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for variable, samples in served.items():
        for sample in samples:
            for label, value in sample.labels.items():
                assert not any(word in label.lower() for word in UNBOUNDED), (sample.name, label)
                assert len(value) <= 64, (sample.name, label, value)
                assert BOOK_QUESTION not in value, (sample.name, label)
                values[(variable, sample.name, label)].add(value)
    crowded = {key: len(v) for key, v in values.items() if len(v) > MAX_VALUES_PER_LABEL}
    assert crowded == {}, crowded
    routes = {v for (_, name, label), vs in values.items() if label == "route" for v in vs}
    assert routes and all(r == "unmatched" or r.startswith("/") for r in routes), routes
    statuses = {v for (_, _, label), vs in values.items() if label == "status" for v in vs}
    assert statuses and all(s.isdigit() and len(s) == 3 for s in statuses), statuses


def test_the_ui_counts_the_session_a_page_load_starts(served: Any, demo_stack: Any) -> None:
    """The chat page opened by ``served`` sent its load event (asynchronously)."""
    url = f"{demo_stack.url('UI_METRICS_PORT')}/metrics"
    deadline = time.monotonic() + 30
    while (
        sessions := metric_value(httpx.get(url, timeout=30).text, "ui_sessions_started_total")
    ) < 1:
        assert time.monotonic() < deadline, "no session counted after the page loaded"
        time.sleep(0.5)
    assert sessions >= 1
