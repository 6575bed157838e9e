"""The app factory building its own parts from the settings, as ``myretail-rag`` does."""

from __future__ import annotations

import threading
import time

from fastapi.testclient import TestClient

from myretail_rag.api.app import create_app
from myretail_rag.catalog.vector_store import CatalogStore
from myretail_testkit.rag import BOOK_QUESTION


def test_parts_come_from_the_settings_and_the_model_loads_in_the_background(
    settings, monkeypatch, embedding_model
):
    release = threading.Event()
    asked_copies: list[int] = []

    def slow_load(_settings, copies=1):
        asked_copies.append(copies)
        release.wait(30)
        return embedding_model  # the session's copy of the same model

    monkeypatch.setattr("myretail_rag.api.components.load_embeddings", slow_load)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        assert client.get("/healthz").status_code == 200  # serving while the model loads
        loading = client.get("/readyz")
        assert loading.status_code == 503
        assert loading.json()["checks"]["embeddings"] == "loading"
        early = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert early.status_code == 503
        assert early.json()["error"]["message"] == "embedding model is unavailable: still loading"
        release.set()
        deadline = time.monotonic() + 30
        while client.get("/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.get("/readyz").status_code == 200
        answer = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert answer.status_code == 200 and len(answer.json()["sources"]) == 5
    assert asked_copies == [settings.query_embedding_workers], "a model copy per worker"
    # Shut down cleanly: the embedded folder and the history file are free again.
    reopened = CatalogStore.from_settings(settings, embedding_model.identity)
    assert reopened.count() == 1233
    reopened.close()


def test_a_model_that_fails_to_load_is_reported(settings, monkeypatch):
    def broken(_settings, copies=1):
        raise RuntimeError("weights are corrupt")

    monkeypatch.setattr("myretail_rag.api.components.load_embeddings", broken)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 10
        while "corrupt" not in client.get("/readyz").text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "weights are corrupt" in client.get("/readyz").json()["checks"]["embeddings"]
        response = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert response.status_code == 503
        assert "weights are corrupt" in response.json()["error"]["message"]
