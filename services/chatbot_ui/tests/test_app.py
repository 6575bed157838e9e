"""The UI service: settings, health routes and the Gradio page, served on a real port."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import generate_latest

from myretail_testkit.servers import LiveServer
from myretail_ui.app import create_app
from myretail_ui.settings import UISettings


@pytest.fixture(scope="module")
def ui_server() -> Iterator[LiveServer]:
    settings = UISettings(
        rag_api_endpoint="http://127.0.0.1:9/generate", inference_api_endpoint="http://127.0.0.1:9"
    )
    with LiveServer(create_app(settings)) as server:
        yield server


def test_settings_keep_the_book_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_API_ENDPOINT", "http://rag:8080/generate")
    monkeypatch.setenv("FINETUNE_API_ENDPOINT", "http://inference:8000/generate")
    monkeypatch.setenv("BACKEND_TIMEOUT_SECONDS", "12.5")
    monkeypatch.delenv("PORT", raising=False)
    settings = UISettings()
    assert settings.port == 7860
    assert settings.rag_api_endpoint == "http://rag:8080/generate"
    assert settings.inference_api_endpoint == "http://inference:8000/generate"
    assert settings.backend_timeout_seconds == 12.5


def test_inference_endpoint_has_a_name_that_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINETUNE_API_ENDPOINT", "http://book-name:8000")
    monkeypatch.setenv("INFERENCE_API_ENDPOINT", "http://inference:8000")
    assert UISettings().inference_api_endpoint == "http://inference:8000"  # the new name wins
    monkeypatch.delenv("FINETUNE_API_ENDPOINT")
    assert UISettings().inference_api_endpoint == "http://inference:8000"


def test_health_routes_answer_next_to_the_ui(ui_server: LiveServer) -> None:
    assert httpx.get(f"{ui_server.url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{ui_server.url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    # The metrics are kept off the public port (METRICS_PORT; test_hardening.py serves them
    # there through the console script): the app's registry counts the UI's requests.
    registry = ui_server.server.config.app.state.metrics_registry
    assert "http_requests_total" in generate_latest(registry).decode()


def test_the_page_is_the_chat_with_its_components(ui_server: LiveServer) -> None:
    page = httpx.get(f"{ui_server.url}/")
    assert page.status_code == 200
    config = httpx.get(f"{ui_server.url}/config").json()
    assert config["title"] == "MyRetail Assistant"
    elem_ids = {
        component["props"].get("elem_id")
        for component in config["components"]
        if isinstance(component.get("props"), dict)
    }
    assert {"title", "assistant", "chatbot", "prompt", "submit", "clear", "examples"} <= elem_ids
    radio = next(c for c in config["components"] if c["props"].get("elem_id") == "assistant")
    assert [choice[0] for choice in radio["props"]["choices"]] == ["Shopping", "Loyalty Program"]


def test_the_page_loads_nothing_from_the_internet(ui_server: LiveServer) -> None:
    page = httpx.get(f"{ui_server.url}/").text
    assert "fonts.googleapis.com" not in page
    assert "cdn.jsdelivr.net" not in page


def test_the_console_script_documents_its_settings() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "myretail_ui", "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    assert "RAG_API_ENDPOINT" in result.stdout
    assert "FINETUNE_API_ENDPOINT" in result.stdout
    assert "INFERENCE_API_ENDPOINT" in result.stdout


def test_an_endpoint_that_is_not_a_url_is_a_clear_startup_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "myretail_ui"],
        capture_output=True,
        text=True,
        env={**os.environ, "RAG_API_ENDPOINT": "ftp://rag/generate", "PORT": "1"},
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "error: backend endpoint 'ftp://rag/generate' is not an http(s) URL"
    )
