"""The chat window in a real Chromium against real (stand-in) backends on loopback.

The outage test stops the Shopping backend's server, asks again, and restarts it on the
same port: the chat shows a readable message, then answers again with no reload.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from myretail_common.ports import free_port
from myretail_testkit.browser import ChatPage, screenshots
from myretail_testkit.servers import LiveServer
from myretail_testkit.ui_backends import LOYALTY_ANSWER, BackendState, rag_app
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
