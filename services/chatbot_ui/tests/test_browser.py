"""The chat window in a real Chromium against real (stand-in) backends on loopback.

The outage test stops the Shopping backend's server, asks again, and restarts it on the
same port: the chat shows a readable message, then answers again with no reload. The
streaming test holds the Shopping backend's stream after each line of its table and lets
the lines go one by one: the page shows each before the next exists.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from myretail_common.ports import free_port
from myretail_testkit.browser import ChatPage, screenshots
from myretail_testkit.servers import LiveServer
from myretail_testkit.ui_backends import (
    LOYALTY_ANSWER,
    PRODUCTS,
    BackendState,
    StreamGate,
    rag_app,
)
from myretail_ui.app import create_app
from myretail_ui.settings import UISettings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    # Gradio's queue uses pandas options that pandas 3 deprecates (not our code).
    pytest.mark.filterwarnings("ignore:.*no_silent_downcasting"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

SHOES = "Please suggest walking shoes for a 60 year old man, in a table format"


def open_chat(browser: Browser, ui_url: str) -> ChatPage:
    page = browser.new_page(viewport={"width": 1200, "height": 1000})
    return ChatPage(page, ui_url, answer_timeout_s=30).open()


def test_an_outage_shows_a_readable_error_and_the_chat_recovers(
    browser: Browser, inference_server: LiveServer
) -> None:
    state = BackendState()
    rag_port = free_port()
    settings = UISettings(
        rag_api_endpoint=f"http://127.0.0.1:{rag_port}/generate",
        inference_api_endpoint=inference_server.url,
        backend_timeout_seconds=10,
    )
    backend = LiveServer(rag_app(state), port=rag_port).start()
    try:
        with LiveServer(create_app(settings)) as ui:
            chat = open_chat(browser, ui.url)
            chat.ask(SHOES)
            assert chat.last_answer_table()[1][0] == "RidgeWalk X Walking Shoe"

            backend.stop()
            error = chat.ask(SHOES)
            chat.screenshot(screenshots() / "ui-backend-down.png")
            assert error == (
                "⚠️ The Shopping assistant is not reachable right now. Please try again in a moment."
            )
            page_text = chat.page.inner_text("body")
            for internal in ("Traceback", "httpx", "ConnectError", "Errno", "Exception"):
                assert internal not in page_text

            backend = LiveServer(rag_app(state), port=rag_port).start()
            chat.ask("Can you sort the results by price in descending order?")
            prices = [row[1] for row in chat.last_answer_table()[1:]]
            assert prices == ["$120.00", "$89.99", "$75.99"]
            assert chat.external_requests == []
            chat.page.close()
    finally:
        backend.stop()
    sessions = {request["session_id"] for request in state.requests}
    assert len(sessions) == 1, "one browser session, one chat session"


def test_switching_assistants_streaming_sources_and_clear(
    browser: Browser, rag_server: LiveServer, rag_state: BackendState, inference_server: LiveServer
) -> None:
    settings = UISettings(
        rag_api_endpoint=rag_server.url, inference_api_endpoint=f"{inference_server.url}/generate"
    )
    with LiveServer(create_app(settings)) as ui:
        chat = open_chat(browser, ui.url)
        chat.ask(SHOES, submit_with_enter=True)
        sources = chat.last_sources()
        assert "RidgeWalk X Walking Shoe — $89.99 — ★ 4.6" in sources

        chat.select("Loyalty Program")
        assert chat.ask("What are the MyElite tiers?") == LOYALTY_ANSWER

        chat.clear()
        assert chat.message_count() == 0
        chat.select("Shopping")
        chat.ask(SHOES)
        first, second = (request["session_id"] for request in rag_state.requests)
        assert first != second, "Clear starts a new session"
        chat.page.close()


def test_a_shopping_answer_streams_into_the_page(
    browser: Browser, inference_server: LiveServer
) -> None:
    gate = StreamGate()
    state = BackendState(gate=gate)
    with LiveServer(rag_app(state)) as rag:
        settings = UISettings(rag_api_endpoint=rag.url, inference_api_endpoint=inference_server.url)
        with LiveServer(create_app(settings)) as ui:
            chat = open_chat(browser, ui.url)
            chat.record_answers()
            chat.send(SHOES)
            # The stream holds after its first line: the page shows that line alone.
            first = chat.wait_for_answer_text("Here are some walking shoes")
            assert not any(product["name"] in first for product in PRODUCTS)
            gate.release(3)  # the blank line, the table's header and its rule
            for number, product in enumerate(PRODUCTS):
                gate.release()
                shown = chat.wait_for_answer_text(product["name"])
                later = [p["name"] for p in PRODUCTS[number + 1 :]]
                assert not any(name in shown for name in later), "a row before its turn"
            gate.release()  # the done event: the whole answer and its sources
            chat.wait_until_answered()
            assert "RidgeWalk X Walking Shoe — $89.99 — ★ 4.6" in chat.last_sources()
            final = chat.last_answer_text()
            partial = [text for text in chat.recorded_answers() if text != final]
            chat.page.close()
    names = [product["name"] for product in PRODUCTS]
    with_rows = [sum(name in text for name in names) for text in partial]
    assert len(partial) >= 4, partial  # the first line, then each row
    assert with_rows[0] == 0 and with_rows == sorted(with_rows), "rows arrive in order"
    assert set(with_rows) >= {0, 1, 2}


def test_example_prompts_fill_the_question(browser: Browser) -> None:
    with LiveServer(create_app(UISettings())) as ui:
        chat = open_chat(browser, ui.url)
        chat.page.locator("#examples").get_by_text("What are the MyElite tiers?").click()
        # Gradio fills the box from its own JS; a retrying assertion waits for that.
        expect(chat.page.locator("#prompt textarea")).to_have_value("What are the MyElite tiers?")
        chat.page.wait_for_function(
            "() => document.querySelector('#assistant input[value=\"Loyalty Program\"]').checked"
        )
        chat.page.close()
