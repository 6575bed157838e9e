"""The UI's metrics (served on METRICS_PORT): chat sessions started and the errors the chat
showed shoppers, by assistant and kind, with real clients and real stand-in backends."""

from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry, generate_latest

from myretail_testkit.rag import metric_value
from myretail_testkit.servers import LiveServer
from myretail_testkit.ui_backends import BackendState
from myretail_ui.app import create_app
from myretail_ui.clients import (
    ERROR_KINDS,
    LOYALTY,
    SHOPPING,
    LoyaltyClient,
    ShoppingClient,
    make_http_client,
)
from myretail_ui.metrics import UI_ERROR_KINDS, UIMetrics
from myretail_ui.settings import UISettings
from myretail_ui.ui import ChatHandlers

UNREACHABLE = "http://127.0.0.1:9"


def _handlers(rag_url: str, metrics: UIMetrics) -> ChatHandlers:
    return ChatHandlers(
        {
            SHOPPING: ShoppingClient(rag_url, make_http_client(5, 1)),
            LOYALTY: LoyaltyClient(UNREACHABLE, make_http_client(5, 1)),
        },
        max_question_chars=50,
        metrics=metrics,
    )


def _ask(handlers: ChatHandlers, questions: list[tuple[str, str]]) -> None:
    async def run() -> None:
        for question, assistant in questions:
            async for _ in handlers.respond(question, [], assistant, "s-1"):
                pass
        for backend in handlers.assistants.values():
            await backend.aclose()

    asyncio.run(run())


def _errors(registry: CollectorRegistry, assistant: str, kind: str) -> float:
    page = generate_latest(registry).decode()
    return metric_value(page, "ui_errors_shown_total", assistant=assistant, kind=kind)


def test_errors_shown_are_counted_by_assistant_and_kind(
    rag_server: LiveServer, rag_state: BackendState
) -> None:
    registry = CollectorRegistry()
    metrics = UIMetrics(registry)
    for assistant in (SHOPPING, LOYALTY):
        for kind in (*ERROR_KINDS, *UI_ERROR_KINDS):
            assert _errors(registry, assistant, kind) == 0
    questions = [("walking shoes", SHOPPING), ("my points?", LOYALTY), ("x" * 51, LOYALTY)]
    _ask(_handlers(rag_server.url, metrics), questions)
    assert _errors(registry, SHOPPING, "unavailable") == 0  # the answer came
    rag_state.status_code = 503
    _ask(_handlers(rag_server.url, metrics), [("walking shoes", SHOPPING)])
    assert _errors(registry, SHOPPING, "unavailable") == 1
    assert _errors(registry, LOYALTY, "unreachable") == 1
    assert _errors(registry, LOYALTY, "too_long") == 1


def test_an_assistant_name_sent_by_a_client_never_becomes_a_label(rag_server: LiveServer) -> None:
    registry = CollectorRegistry()
    _ask(_handlers(rag_server.url, UIMetrics(registry)), [("x" * 51, "<script>alert(1)</script>")])
    assert _errors(registry, SHOPPING, "too_long") == 1
    assert "script" not in generate_latest(registry).decode()


def test_page_loads_and_clears_start_counted_sessions(rag_server: LiveServer) -> None:
    registry = CollectorRegistry()
    handlers = _handlers(rag_server.url, UIMetrics(registry))
    handlers.session_started()  # the page's load event
    textbox, chat, session = handlers.start_over()
    assert (textbox, chat) == ("", []) and session
    page = generate_latest(registry).decode()
    assert metric_value(page, "ui_sessions_started_total") == 2


def test_the_app_serves_them_from_its_registry() -> None:
    settings = UISettings(
        rag_api_endpoint=f"{UNREACHABLE}/generate", inference_api_endpoint=UNREACHABLE
    )
    with LiveServer(create_app(settings)) as server:
        registry = server.server.config.app.state.metrics_registry
        page = generate_latest(registry).decode()
    assert metric_value(page, "ui_sessions_started_total") == 0
    assert metric_value(page, "ui_errors_shown_total", assistant=LOYALTY, kind="timeout") == 0
