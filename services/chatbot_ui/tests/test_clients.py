"""The backend clients against real HTTP servers on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from myretail_common.http import create_service_app
from myretail_common.ports import free_port
from myretail_testkit.servers import LiveServer
from myretail_testkit.ui_backends import (
    LOYALTY_ANSWER,
    PRODUCTS,
    BackendState,
    inference_app,
    product_table,
)
from myretail_ui.clients import (
    BackendError,
    LoyaltyClient,
    Reply,
    ShoppingClient,
    Source,
    make_http_client,
    normalise_endpoint,
)


def http(timeout: float = 5.0) -> httpx.AsyncClient:
    return make_http_client(timeout, 1.0)


async def collect(assistant: ShoppingClient | LoyaltyClient, prompt: str) -> list[Reply]:
    try:
        return [reply async for reply in assistant.stream(prompt, "session-1")]
    finally:
        await assistant.aclose()


def run(assistant: ShoppingClient | LoyaltyClient, prompt: str = "hello") -> list[Reply]:
    return asyncio.run(collect(assistant, prompt))


def failure(assistant: ShoppingClient | LoyaltyClient) -> BackendError:
    with pytest.raises(BackendError) as caught:
        run(assistant)
    return caught.value


@pytest.mark.parametrize(
    ("configured", "base"),
    [
        ("http://rag:8080/generate", "http://rag:8080"),
        ("http://rag:8080/generate/", "http://rag:8080"),
        ("http://rag:8080", "http://rag:8080"),
        ("http://rag:8080/", "http://rag:8080"),
        ("http://inference:8000/v1", "http://inference:8000"),
        ("http://inference:8000/v1/chat/completions", "http://inference:8000"),
        ("https://gateway.example/shop/generate", "https://gateway.example/shop"),
        ("rag:8080/generate", "http://rag:8080"),
    ],
)
def test_endpoints_accept_generate_urls_and_base_urls(configured: str, base: str) -> None:
    endpoint = normalise_endpoint(configured)
    assert endpoint.base_url == base
    assert endpoint.generate_url == f"{base}/generate"
    assert endpoint.openai_base_url == f"{base}/v1"


@pytest.mark.parametrize("configured", ["", "   ", "ftp://rag/generate"])
def test_endpoints_reject_what_is_not_an_http_url(configured: str) -> None:
    with pytest.raises(ValueError, match="endpoint"):
        normalise_endpoint(configured)


def test_sources_read_top_level_or_metadata_fields() -> None:
    flat = Source.from_payload({"product_id": "MR-1", "name": "Shoe", "price": "9.5", "rating": 4})
    nested = Source.from_payload({"metadata": {"name": "Boot", "price": 20}, "score": 0.3})
    assert flat == Source(name="Shoe", price=9.5, rating=4.0, product_id="MR-1")
    assert nested == Source(name="Boot", price=20.0)
    assert Source.from_payload({"score": 0.5}) is None


def test_shopping_answer_has_text_sources_and_the_session(
    rag_server: LiveServer, rag_state: BackendState
) -> None:
    """Without streaming (STREAM_ANSWERS=false): the book's v0 request, one answer."""
    shopping = ShoppingClient(f"{rag_server.url}/generate", http(), stream=False)
    replies = run(shopping, "walking shoes")
    assert len(replies) == 1
    reply = replies[0]
    assert reply.done
    assert "| RidgeWalk X Walking Shoe |" in reply.text
    assert [source.name for source in reply.sources] == [p["name"] for p in PRODUCTS]
    assert reply.sources[0].price == 89.99
    assert reply.sources[0].rating == 4.6
    assert reply.session_id == "session-1"
    assert rag_state.requests == [{"prompt": "walking shoes", "session_id": "session-1"}]


def test_shopping_streams_the_answer_line_by_line_then_its_sources(
    rag_server: LiveServer, rag_state: BackendState
) -> None:
    replies = run(ShoppingClient(f"{rag_server.url}/generate", http()), "walking shoes")
    *growing, final = replies
    answer = "Here are some walking shoes:\n\n" + product_table(PRODUCTS)
    lines = answer.splitlines(keepends=True)
    assert [reply.text for reply in growing] == [
        "".join(lines[:count]) for count in range(1, len(lines) + 1)
    ], "one reply per line of the table, each the answer so far"
    assert not any(reply.done or reply.sources for reply in growing)
    assert final.done and final.text == answer
    assert [source.name for source in final.sources] == [p["name"] for p in PRODUCTS]
    assert final.session_id == "session-1"
    assert rag_state.requests == [
        {"prompt": "walking shoes", "session_id": "session-1", "stream": True}
    ]


def streaming_app(*events: str) -> FastAPI:
    """A RAG API stand-in whose stream is ``events`` (server-sent event texts)."""
    app: FastAPI = create_service_app("scripted", "test")

    @app.post("/generate")
    async def generate() -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            for event in events:
                yield event

        return StreamingResponse(body(), media_type="text/event-stream")

    return app


DELTA = 'event: delta\ndata: {"text": "| Product |\\n"}\n\n'


@pytest.mark.parametrize(
    ("error", "message"),
    [
        ("timeout", "The Shopping assistant is taking too long to answer. Please try again"),
        ("service_unavailable", "The Shopping assistant is temporarily unavailable."),
        ("internal_error", "The Shopping assistant ran into a problem answering. Please try"),
    ],
)
def test_a_shopping_stream_that_fails_midway_says_so(error: str, message: str) -> None:
    failed = f'event: error\ndata: {{"error": {{"type": "{error}", "message": "why"}}}}\n\n'
    with LiveServer(streaming_app(DELTA, failed)) as server:
        replies: list[Reply] = []

        async def collect_until_failure() -> None:
            shopping = ShoppingClient(server.url, http())
            try:
                async for reply in shopping.stream("shoes", "s-1"):
                    replies.append(reply)
            finally:
                await shopping.aclose()

        with pytest.raises(BackendError) as caught:
            asyncio.run(collect_until_failure())
    assert [reply.text for reply in replies] == ["| Product |\n"], "the part that came first"
    assert caught.value.user_message.startswith(message)
    assert caught.value.detail == f"error event in stream: {error}: why"


def test_a_shopping_stream_cut_before_its_end_is_reported() -> None:
    with LiveServer(streaming_app(DELTA)) as server:
        error = failure(ShoppingClient(server.url, http()))
    assert error.user_message == (
        "The Shopping assistant sent an answer the chat could not read. Please try again."
    )


def test_loyalty_streams_from_the_openai_compatible_endpoint(
    inference_server: LiveServer, inference_state: BackendState
) -> None:
    replies = run(LoyaltyClient(inference_server.url, http()), "What are the tiers?")
    assert len(replies) > 3, "the answer arrives in pieces"
    assert [reply.done for reply in replies] == [False] * (len(replies) - 1) + [True]
    assert replies[-1].text == LOYALTY_ANSWER
    assert all(
        replies[i].text.startswith(replies[i - 1].text.rstrip()) for i in range(1, len(replies))
    )
    (request,) = inference_state.requests
    assert request["route"] == "chat"
    assert request["stream"] is True
    assert request["messages"] == [{"role": "user", "content": "What are the tiers?"}]
    assert request["model"] == "myelite-loyalty"
    assert request["temperature"] == 0.0, "greedy: the learned answer"


def test_loyalty_uses_generate_when_streaming_is_off(
    inference_server: LiveServer, inference_state: BackendState
) -> None:
    assistant = LoyaltyClient(
        f"{inference_server.url}/generate", http(), stream=False, max_new_tokens=32
    )
    replies = run(assistant, "What are the tiers?")
    assert [(reply.text, reply.done) for reply in replies] == [(LOYALTY_ANSWER, True)]
    assert inference_state.requests == [
        {
            "route": "generate",
            "prompt": "What are the tiers?",
            "max_new_tokens": 32,
            "temperature": 0.0,
        }
    ]


def test_loyalty_falls_back_to_generate_without_an_openai_api() -> None:
    state = BackendState()
    with LiveServer(inference_app(state, openai=False)) as server:
        replies = run(LoyaltyClient(f"{server.url}/generate", http()))
    assert replies[-1].text == LOYALTY_ANSWER
    assert [request["route"] for request in state.requests] == ["generate"]


def test_a_backend_that_is_down_is_not_reachable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    shopping = failure(ShoppingClient(url, http()))
    loyalty = failure(LoyaltyClient(url, http()))
    assert shopping.user_message == (
        "The Shopping assistant is not reachable right now. Please try again in a moment."
    )
    assert loyalty.user_message.startswith("The Loyalty Program assistant is not reachable")


def test_a_slow_backend_times_out_with_a_readable_message(
    rag_server: LiveServer, rag_state: BackendState
) -> None:
    rag_state.delay_seconds = 2.0
    error = failure(ShoppingClient(rag_server.url, http(timeout=0.3)))
    assert "taking too long" in error.user_message


def test_a_dependency_outage_is_temporarily_unavailable(
    rag_server: LiveServer,
    rag_state: BackendState,
    inference_server: LiveServer,
    inference_state: BackendState,
) -> None:
    rag_state.unavailable = inference_state.unavailable = True
    shopping = failure(ShoppingClient(rag_server.url, http()))
    loyalty = failure(LoyaltyClient(inference_server.url, http()))
    assert "temporarily unavailable" in shopping.user_message
    assert "temporarily unavailable" in loyalty.user_message
    assert "503" in shopping.detail and "vector store" in shopping.detail


def test_a_rejected_request_says_why(rag_server: LiveServer, rag_state: BackendState) -> None:
    rag_state.status_code = 400
    error = failure(ShoppingClient(rag_server.url, http()))
    assert error.user_message == (
        "The Shopping assistant could not handle that request (prompt is too long). "
        "Please rephrase it."
    )


def test_an_unreadable_answer_is_reported_without_internals() -> None:
    app: FastAPI = create_service_app("broken", "test")

    @app.post("/generate")
    async def generate() -> dict[str, str]:
        return {"unexpected": "shape"}

    with LiveServer(app) as server:
        error = failure(ShoppingClient(server.url, http()))
    assert error.user_message == (
        "The Shopping assistant sent an answer the chat could not read. Please try again."
    )
    assert "Traceback" not in error.user_message
