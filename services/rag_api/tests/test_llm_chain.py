"""The full LLM chain against our own inference service over HTTP.

The chat model is the real ``myretail-inference`` app serving the tiny model with the
adapter the real fine-tune Job published (``published_adapter``), on a loopback port.
Between the RAG API and it sits a recording HTTP proxy (real sockets both ways) that
keeps every request body and answer, so the test sees exactly what reached the model:
the rewrite prompt with the chat history, the rewritten (standalone) question in the
answer prompt (in a human message: the shopper's text never goes into a system message),
and the retrieved products as its context. The tiny model's words are
not shopping advice, and its context window is 512 tokens (so two products per answer
here); the test checks the plumbing, not the prose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from myretail_common.safe_markdown import inert_markdown
from myretail_rag.conversation.chain import CONDENSE_SYSTEM
from myretail_testkit.rag import BOOK_QUESTION, SORT_QUESTION
from myretail_testkit.servers import LiveServer

pytestmark = pytest.mark.slow


class RecordingProxy:
    """Forwards ``/v1/*`` to the inference service and records each exchange."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.exchanges: list[tuple[dict[str, Any], dict[str, Any]]] = []

        async def forward(request: Request) -> Response:
            body = await request.json()
            async with httpx.AsyncClient(timeout=120) as client:
                answer = await client.post(
                    f"{self.upstream}{request.url.path}",
                    json=body,
                    headers={"authorization": request.headers.get("authorization", "")},
                )
            payload = answer.json()
            self.exchanges.append((body, payload))
            return JSONResponse(payload, status_code=answer.status_code)

        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok")

        app = Starlette(
            routes=[
                Route("/healthz", healthz),
                Route("/v1/{rest:path}", forward, methods=["POST"]),
            ]
        )
        self.server = LiveServer(app)


@pytest.fixture(scope="module")
def inference_url(published_adapter: Any, tmp_path_factory) -> Iterator[str]:
    from myretail_testkit.inference import serve_published

    cache = tmp_path_factory.mktemp("inference-cache")
    with serve_published(published_adapter, cache, default_max_new_tokens=24) as (live, _):
        yield live.url


@pytest.fixture
def proxy(inference_url: str) -> Iterator[RecordingProxy]:
    recording = RecordingProxy(inference_url)
    with recording.server:
        yield recording


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return str(content or "")


def test_the_chain_rewrites_with_history_and_grounds_on_retrieved_products(
    settings, store, history, make_client, proxy, published_adapter
):
    llm = settings.model_copy(
        update={
            "chat_provider": "openai",
            "openai_base_url": f"{proxy.server.url}/v1",
            "chat_model": published_adapter.model_name,
            "chat_max_tokens": 24,
            "chat_temperature": 0.0,
            "retrieval_k": 2,  # the tiny model's context window is 512 tokens
        }
    )
    client = make_client(llm, store, history)

    # Turn 1: no history, so no rewrite; the answer prompt carries the products.
    first = client.post("/generate", json={"prompt": BOOK_QUESTION})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["mode"] == "llm"
    assert len(body["sources"]) == 2
    assert len(proxy.exchanges) == 1
    request, answer = proxy.exchanges[0]
    assert request["model"] == published_adapter.model_name
    system, *_, user = request["messages"]
    assert system["role"] == "system" and user["role"] == "user"
    # No rewrite without history: the shopper's message is the standalone question, and
    # it is in the human message only.
    assert text_of(user) == BOOK_QUESTION
    assert BOOK_QUESTION not in text_of(system)
    for source in body["sources"]:  # the retrieved context reached the model
        assert f"[{source['product_id']}] {source['name']}" in text_of(system)
    assert body["response"] == inert_markdown(answer["choices"][0]["message"]["content"].strip())

    # Turn 2: the history goes to the rewrite step; its output is the standalone question
    # the retriever and the answer prompt use.
    second = client.post(
        "/generate", json={"prompt": SORT_QUESTION, "session_id": body["session_id"]}
    )
    assert second.status_code == 200, second.text
    follow = second.json()
    assert len(proxy.exchanges) == 3
    (rewrite_request, rewrite_answer), (answer_request, final) = proxy.exchanges[1:]
    rewrite_messages = rewrite_request["messages"]
    assert text_of(rewrite_messages[0]) == CONDENSE_SYSTEM
    assert [m["role"] for m in rewrite_messages[1:]] == ["user", "assistant", "user"]
    assert text_of(rewrite_messages[1]) == BOOK_QUESTION
    assert text_of(rewrite_messages[2]) == body["response"]
    assert text_of(rewrite_messages[3]) == SORT_QUESTION
    rewritten = rewrite_answer["choices"][0]["message"]["content"].strip() or SORT_QUESTION
    answer_system = text_of(answer_request["messages"][0])
    answer_user = text_of(answer_request["messages"][-1])
    assert answer_user.startswith(SORT_QUESTION)
    if rewritten != SORT_QUESTION:
        assert f"standalone question: {rewritten}" in answer_user
    assert "standalone question" not in answer_system and SORT_QUESTION not in answer_system
    assert [m["role"] for m in answer_request["messages"][1:]] == ["user", "assistant", "user"]
    for source in follow["sources"]:
        assert f"[{source['product_id']}] {source['name']}" in answer_system
    assert follow["response"] == inert_markdown(final["choices"][0]["message"]["content"].strip())
