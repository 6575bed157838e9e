"""The chat handlers with real clients and real stand-in backends (no browser)."""

from __future__ import annotations

import asyncio
from typing import Any

from myretail_common.ports import free_port
from myretail_testkit.servers import LiveServer
from myretail_testkit.ui_backends import LOYALTY_ANSWER, BackendState
from myretail_ui.clients import (
    LOYALTY,
    SHOPPING,
    LoyaltyClient,
    ShoppingClient,
    Source,
    make_http_client,
)
from myretail_ui.ui import ERROR_PREFIX, PENDING, ChatHandlers, format_sources, new_session_id

Update = tuple[str, list[dict[str, Any]], str]


def handlers(rag_url: str, inference_url: str) -> ChatHandlers:
    return ChatHandlers(
        {
            SHOPPING: ShoppingClient(rag_url, make_http_client(5, 1)),
            LOYALTY: LoyaltyClient(inference_url, make_http_client(5, 1)),
        }
    )


def chat(
    chat_handlers: ChatHandlers,
    message: str,
    assistant: str,
    history: list[dict[str, Any]] | None = None,
    session: str | None = "s-1",
) -> list[Update]:
    async def collect() -> list[Update]:
        updates = [
            update
            async for update in chat_handlers.respond(message, history or [], assistant, session)
        ]
        for backend in chat_handlers.assistants.values():
            await backend.aclose()
        return updates

    return asyncio.run(collect())


def test_a_shopping_answer_shows_the_question_a_pending_answer_then_the_answer_and_sources(
    rag_server: LiveServer, rag_state: BackendState
) -> None:
    updates = chat(handlers(rag_server.url, "http://127.0.0.1:9"), "walking shoes", SHOPPING)
    textbox, first, _ = updates[0]
    assert textbox == ""
    assert first == [
        {"role": "user", "content": "walking shoes"},
        {"role": "assistant", "content": PENDING},
    ]
    _, final, session = updates[-1]
    assert session == "s-1"
    assert final[1]["content"].startswith("Here are some walking shoes")
    sources = final[2]
    assert sources["metadata"]["title"] == "Sources · 3 products"
    assert "**RidgeWalk X Walking Shoe** — $89.99 — ★ 4.6" in sources["content"]
    assert rag_state.requests[0]["session_id"] == "s-1"


def test_a_loyalty_answer_streams_into_the_chat(inference_server: LiveServer) -> None:
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "reply"}]
    updates = chat(handlers("http://127.0.0.1:9", inference_server.url), "tiers?", LOYALTY, history)
    answers = [update[1][-1]["content"] for update in updates]
    assert len(set(answers)) > 3, "the answer grows while it streams"
    assert answers[-1] == LOYALTY_ANSWER
    assert updates[-1][1][:2] == history
    assert len(updates[-1][1]) == 4, "no sources for loyalty answers"


def test_a_backend_outage_is_a_readable_message_in_the_chat() -> None:
    down = f"http://127.0.0.1:{free_port()}"
    updates = chat(handlers(down, down), "walking shoes", SHOPPING)
    _, final, session = updates[-1]
    assert final[-1] == {
        "role": "assistant",
        "content": ERROR_PREFIX
        + "The Shopping assistant is not reachable right now. Please try again in a moment.",
    }
    assert session == "s-1"


def test_an_empty_question_changes_nothing(rag_server: LiveServer, rag_state: BackendState) -> None:
    updates = chat(handlers(rag_server.url, rag_server.url), "   ", SHOPPING)
    assert updates == [("", [], "s-1")]
    assert rag_state.requests == []


def test_a_missing_session_gets_one(rag_server: LiveServer, rag_state: BackendState) -> None:
    updates = chat(handlers(rag_server.url, rag_server.url), "shoes", SHOPPING, session=None)
    session = updates[-1][2]
    assert len(session) == 32
    assert rag_state.requests[0]["session_id"] == session


def test_clear_empties_the_chat_and_starts_a_new_session() -> None:
    textbox, history, session = ChatHandlers.clear()
    assert (textbox, history) == ("", [])
    assert session != ChatHandlers.clear()[2]
    assert len(new_session_id()) == 32


def test_sources_list_name_price_and_rating() -> None:
    text = format_sources([Source("Shoe", 1234.5, 4.25), Source("Boot", None, None)])
    assert text.splitlines() == [
        "- **Shoe** — $1,234.50 — ★ 4.2",
        "- **Boot** — price n/a — no rating",
    ]
