"""Degrade instead of failing, and no work for a client that has gone.

Timeouts nest (UI > RAG > inference, by their defaults), a /generate answer has one
deadline, a client that disconnects cancels the work (the hung chat model sees the RAG API
hang up), and a history store that cannot save still lets the answer through. An admin
token too short to be safe stops the service at start-up.
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
import redis
from pydantic import SecretStr

from myretail_common.ports import free_port
from myretail_inference.settings import InferenceSettings
from myretail_rag.api.app import create_app
from myretail_rag.conversation.assistant import HISTORY_UNSAVED
from myretail_rag.conversation.history import RedisHistory
from myretail_rag.settings import RagSettings
from myretail_testkit.rag import BOOK_QUESTION, SilentServer
from myretail_testkit.servers import LiveServer
from myretail_ui.settings import UISettings


def default(settings: type, name: str) -> float:
    value = settings.model_fields[name].default
    assert isinstance(value, int | float)
    return float(value)


def test_timeouts_nest_ui_over_rag_over_inference():
    ui = default(UISettings, "backend_timeout_seconds")
    rag_answer = default(RagSettings, "request_timeout_seconds")
    rag_chat_call = default(RagSettings, "chat_timeout_seconds")
    inference = default(InferenceSettings, "request_timeout_seconds")
    assert ui > rag_answer > rag_chat_call > inference


def hung_model_settings(settings: RagSettings, hung: SilentServer, **extra) -> RagSettings:
    return settings.model_copy(
        update={
            "chat_provider": "openai",
            "openai_base_url": f"http://127.0.0.1:{hung.port}/v1",
            "chat_timeout_seconds": 120.0,
            **extra,
        }
    )


@pytest.mark.timeout(120)
def test_an_answer_past_its_deadline_is_a_504_and_its_work_stops(
    settings, store, history, make_client
):
    hung = SilentServer()
    try:
        client = make_client(
            hung_model_settings(settings, hung, request_timeout_seconds=1.0), store, history
        )
        response = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert response.status_code == 504
        error = response.json()["error"]
        assert error["type"] == "timeout"
        assert error["message"] == "no answer within 1s (REQUEST_TIMEOUT_SECONDS)"
        # The call to the model was cancelled: the RAG API hung up on it.
        assert hung.hung_up.wait(30)
    finally:
        hung.close()


@pytest.mark.timeout(120)
def test_a_client_that_disconnects_cancels_the_rag_work(settings, store, history, embedding_model):
    hung = SilentServer()
    app = create_app(
        hung_model_settings(settings, hung),
        embeddings=embedding_model,
        vector_store=store,
        history=history,
    )
    try:
        with LiveServer(app) as rag:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(
                    f"{rag.url}/generate",
                    json={"prompt": BOOK_QUESTION},
                    timeout=httpx.Timeout(30, read=2.0),
                )
            assert hung.connections, "the question reached the chat model"
            # Long before the chat model's own timeout (120 s): the RAG API noticed its
            # client leave and cancelled the call.
            assert hung.hung_up.wait(30)
    finally:
        hung.close()


def test_an_answer_that_cannot_be_saved_is_returned_with_a_warning(
    settings, store, make_client, redis_server
):
    admin = redis.Redis.from_url(redis_server.url)
    history = RedisHistory(redis_server.url, 600)
    client = make_client(settings, store, history)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", 1)  # every write is refused from now on; reads still work
    try:
        response = client.post("/generate", json={"prompt": BOOK_QUESTION})
    finally:
        admin.config_set("maxmemory", 0)
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["sources"]) == 5
    assert body["warnings"] == [HISTORY_UNSAVED]
    assert history.messages(str(body["session_id"]).replace("-", "")) == []


def test_a_short_admin_token_is_refused_at_start_up(settings):
    short = settings.model_copy(update={"admin_token": SecretStr("dev-only-admin-token")})
    with pytest.raises(ValueError, match="ADMIN_TOKEN must be at least 32 characters"):
        create_app(short)
    result = subprocess.run(
        [sys.executable, "-c", "from myretail_rag.api.serve import main; raise SystemExit(main())"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ADMIN_TOKEN": "dev-only-admin-token", "PORT": str(free_port())},
    )
    assert result.returncode == 2
    assert "ADMIN_TOKEN must be at least 32 characters" in result.stderr
    assert "dev-only-admin-token" not in result.stderr
