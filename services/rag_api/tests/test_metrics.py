"""The RAG API's metrics that the Shopping dashboard and the alerts read: catalog searches
(time, products found, empty results), answers by mode, chat-history failures and 503s by
dependency (their series there from the start)."""

from __future__ import annotations

import uuid

from prometheus_client import CollectorRegistry, generate_latest

from myretail_common.ports import free_port
from myretail_rag.api.errors import HTTP_ERRORS
from myretail_rag.api.metrics import DEPENDENCIES, Metrics
from myretail_rag.conversation.assistant import HISTORY_UNSAVED
from myretail_rag.conversation.history import RedisHistory
from myretail_rag.understanding.constraints import Constraints
from myretail_rag.understanding.search import CatalogSearch
from myretail_testkit.rag import BOOK_QUESTION, metric_value


def test_an_answer_records_its_search_and_mode(client):
    before = client.get("/metrics").text
    assert metric_value(before, "rag_retrieval_seconds_count") == 0
    for dependency in DEPENDENCIES:
        assert metric_value(before, "rag_dependency_failures_total", dependency=dependency) == 0
    assert metric_value(before, "rag_catalog_loads_total", outcome="failed") == 0

    response = client.post("/generate", json={"prompt": BOOK_QUESTION})
    assert response.status_code == 200
    after = client.get("/metrics").text
    searches = metric_value(after, "rag_retrieval_seconds_count")
    assert searches >= 1
    assert metric_value(after, "rag_retrieval_hits_count") == searches
    assert metric_value(after, "rag_retrieval_hits_sum") >= len(response.json()["sources"]) == 5
    assert metric_value(after, "rag_retrieval_empty_total") == 0
    assert metric_value(after, "rag_answers_total", mode=response.json()["mode"]) == 1
    for operation in ("read", "write"):
        assert metric_value(after, "rag_history_failures_total", operation=operation) == 0


def test_a_search_that_finds_nothing_is_counted_empty(store, embedding_model):
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    search = CatalogSearch(store, embedding_model, on_search=metrics.record_search)
    assert search.search("walking shoes", Constraints(max_price=0.01), 5) == []
    assert len(search.search("walking shoes", Constraints(), 5)) == 5
    page = generate_latest(registry).decode()
    assert metric_value(page, "rag_retrieval_empty_total") == 1
    assert metric_value(page, "rag_retrieval_seconds_count") == 2
    assert metric_value(page, "rag_retrieval_hits_sum") == 5
    assert metric_value(page, "rag_retrieval_hits_bucket", le="0.0") == 1


def test_an_unreadable_history_is_counted(settings, store, make_client):
    client = make_client(settings, store, RedisHistory(f"redis://127.0.0.1:{free_port()}/0", 600))
    follow_up = {"prompt": BOOK_QUESTION, "session_id": str(uuid.uuid4())}
    assert client.post("/generate", json=follow_up).status_code == 200
    page = client.get("/metrics").text
    assert metric_value(page, "rag_history_failures_total", operation="read") == 1
    assert metric_value(page, "rag_history_failures_total", operation="write") == 0


def test_a_new_session_reads_no_history(settings, store, make_client):
    """A session id made for the request has nothing stored: only its turn is written."""
    client = make_client(settings, store, RedisHistory(f"redis://127.0.0.1:{free_port()}/0", 600))
    response = client.post("/generate", json={"prompt": BOOK_QUESTION})
    assert response.status_code == 200
    assert response.json()["warnings"] == [HISTORY_UNSAVED]
    page = client.get("/metrics").text
    assert metric_value(page, "rag_history_failures_total", operation="read") == 0
    assert metric_value(page, "rag_history_failures_total", operation="write") == 1


def test_every_dependency_a_503_names_has_its_series():
    """DEPENDENCIES lists what api/errors.py names, so none starts without a series."""
    named = set()
    for error_type, factory in HTTP_ERRORS:
        error = error_type.__new__(error_type)
        Exception.__init__(error, "down")
        try:
            http = factory(error)
        except (AssertionError, AttributeError):  # NotReadyError: its part is the dependency
            continue
        if http.status_code == 503:
            named.add(http.dependency)
    assert named and named <= set(DEPENDENCIES), named - set(DEPENDENCIES)
