"""Faults and bad input: clear JSON errors, 503s naming the dependency, never a 500.

Every dependency here is real and really down: a closed port, a socket that never
answers, a stopped server. "Qdrant comes back" is the Qdrant REST stand-in
(:mod:`myretail_testkit.qdrant_gateway`) starting on the port the service points at,
because no Qdrant server can be installed on this machine.
"""

from __future__ import annotations

import shutil
import time
import uuid

import pytest
from qdrant_client import QdrantClient

from myretail_common.ports import free_port
from myretail_rag.catalog.embeddings import EmbeddingIdentity
from myretail_rag.catalog.vector_store import CatalogStore
from myretail_rag.conversation.chat_models import create_chat_model
from myretail_rag.conversation.history import RedisHistory
from myretail_testkit.qdrant_gateway import QdrantGateway
from myretail_testkit.rag import BOOK_QUESTION, SilentServer, make_settings, metric_value
from myretail_testkit.servers import LiveServer


def error_of(response) -> dict:
    body = response.json()
    assert "error" in body, body
    return body["error"]


@pytest.mark.parametrize(
    ("payload", "status", "fragment"),
    [
        ({"prompt": "   "}, 422, "prompt must not be blank"),
        ({"prompt": ""}, 422, "prompt"),
        ({}, 422, "body.prompt"),
        ({"prompt": 42}, 422, "body.prompt"),
        ({"prompt": "shoes", "session_id": "not-a-uuid"}, 422, "session_id must be a UUID"),
        ({"prompt": "shoes", "session_id": "../../etc/passwd"}, 422, "session_id"),
        ({"prompt": "x" * 2001}, 413, "the limit is 2000"),
    ],
)
def test_bad_prompts_and_session_ids(client, payload, status, fragment):
    response = client.post("/generate", json=payload)
    assert response.status_code == status
    assert fragment in error_of(response)["message"]


def test_invalid_json_is_a_400(client):
    response = client.post(
        "/generate", content=b"{oops", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_json"


def test_health_readiness_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {
        "vector_store": "ok",
        "embeddings": "ok",
        "history": "ok",
        "catalog": "1233 products",
    }
    client.post("/generate", json={"prompt": BOOK_QUESTION})
    metrics = client.get("/metrics").text
    assert 'rag_answers_total{mode="retrieval_only"} 1.0' in metrics
    assert "rag_catalog_products 1233.0" in metrics
    loaded_at = metric_value(metrics, "rag_catalog_loaded_timestamp_seconds")
    assert 0 < loaded_at <= time.time()


def test_an_empty_catalog_is_ready_and_reported(tmp_path, embedding_model, make_client):
    """Nothing loaded yet (a first install before the restore hook ran): the pod can
    serve, so it is ready; /readyz, the gauges and /generate say the catalog is empty."""
    settings = make_settings(tmp_path)
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        client = make_client(settings, store)
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {
            "status": "ready",
            "checks": {
                "vector_store": "ok",
                "embeddings": "ok",
                "history": "ok",
                "catalog": "empty: it is being restored or loaded",
            },
        }
        response = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert response.status_code == 503
        assert error_of(response)["message"] == "catalog is empty: it is being restored or loaded"
        assert error_of(response)["type"] == "catalog_empty"
        assert response.headers["retry-after"] == "10"
        metrics = client.get("/metrics").text
        assert metric_value(metrics, "rag_catalog_products") == 0
        assert metric_value(metrics, "rag_catalog_loaded_timestamp_seconds") == 0
        failures = metric_value(metrics, "rag_dependency_failures_total", dependency="catalog")
        assert failures == 1
    finally:
        store.close()


def test_an_empty_collection_behind_the_alias_is_an_empty_catalog(
    tmp_path, embedding_model, make_client
):
    """A collection with no points under the catalog's name (e.g. made by hand, as the
    book's original manifests did) is empty too, not a search without results."""
    settings = make_settings(tmp_path)
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        store.create_collection("catalog--load-by-hand")
        store.switch_alias("catalog--load-by-hand")
        client = make_client(settings, store)
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["catalog"] == "empty: it is being restored or loaded"
        response = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert response.status_code == 503
        assert error_of(response)["message"] == "catalog is empty: it is being restored or loaded"
    finally:
        store.close()


def test_a_collection_from_another_embedding_model_is_refused(settings, history, make_client):
    other = EmbeddingIdentity("openai/text-embedding-3-small", 1536)
    store = CatalogStore.from_settings(settings, other)
    try:
        client = make_client(settings, store, history)
        ready = client.get("/readyz").json()["checks"]["vector_store"]
        assert "built with sentence-transformers/all-MiniLM-L6-v2 (384 dimensions)" in ready
        assert "openai/text-embedding-3-small (1536 dimensions)" in ready
        response = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert response.status_code == 503
        assert "built with sentence-transformers/all-MiniLM-L6-v2" in error_of(response)["message"]
    finally:
        store.close()


def test_qdrant_down_is_a_503_naming_it_and_recovers_by_itself(
    tmp_path, loaded_catalog_dir, embedding_model, history, make_client
):
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path, qdrant_endpoint=endpoint, qdrant_timeout_seconds=2)
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    client = make_client(settings, store, history)

    # Nothing listens on the port: Qdrant is down.
    response = client.post("/generate", json={"prompt": BOOK_QUESTION})
    assert response.status_code == 503
    message = error_of(response)["message"]
    assert message.startswith(f"vector store is unavailable: Qdrant at {endpoint}")
    assert response.headers["retry-after"]
    ready = client.get("/readyz")
    assert ready.status_code == 503
    assert f"Qdrant at {endpoint}" in ready.json()["checks"]["vector_store"]

    # Qdrant comes back on the same port: the same app answers, no restart.
    shutil.copytree(loaded_catalog_dir, tmp_path / "server-data")
    backend = QdrantClient(path=str(tmp_path / "server-data"))
    gateway = QdrantGateway(backend)
    try:
        with LiveServer(gateway.app, port=port):
            assert client.get("/readyz").status_code == 200
            body = client.post("/generate", json={"prompt": BOOK_QUESTION}).json()
            assert len(body["sources"]) == 5
            # Server mode filters in Qdrant (served by the payload indexes there).
            queries = [req for req in gateway.requests if req[1].endswith("/points/query")]
            assert queries and queries[-1][2].get("filter")
        # and down again
        again = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert again.status_code == 503
    finally:
        backend.close()
        store.close()


def test_chat_model_down_is_a_503_naming_it(settings, store, history, make_client):
    endpoint = f"http://127.0.0.1:{free_port()}/v1"
    llm_settings = settings.model_copy(
        update={"chat_provider": "openai", "openai_base_url": endpoint, "chat_model": "mini"}
    )
    client = make_client(llm_settings, store, history)
    response = client.post("/generate", json={"prompt": BOOK_QUESTION})
    assert response.status_code == 503
    message = error_of(response)["message"]
    assert message.startswith("chat model is unavailable: OpenAI-compatible model mini at")
    assert endpoint in message


def test_chat_model_down_falls_back_to_retrieval_only_when_configured(
    settings, store, history, make_client
):
    llm_settings = settings.model_copy(
        update={
            "chat_provider": "openai",
            "openai_base_url": f"http://127.0.0.1:{free_port()}/v1",
            "chat_fallback": "retrieval_only",
        }
    )
    client = make_client(llm_settings, store, history)
    body = client.post("/generate", json={"prompt": BOOK_QUESTION}).json()
    assert body["mode"] == "retrieval_only_fallback"
    assert "unavailable right now" in body["response"]
    assert len(body["sources"]) == 5


# A hang (the chat timeout not applied) fails the test through this guard instead of
# blocking the run; the test itself asserts no wall-clock figure.
@pytest.mark.timeout(180)
def test_a_chat_model_that_never_answers_times_out_as_a_503(settings, store, history, make_client):
    hung = SilentServer()
    try:
        llm_settings = settings.model_copy(
            update={
                "chat_provider": "openai",
                "openai_base_url": f"http://127.0.0.1:{hung.port}/v1",
                "chat_timeout_seconds": 1.0,
            }
        )
        client = make_client(llm_settings, store, history)
        response = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert response.status_code == 503
        assert "chat model is unavailable" in error_of(response)["message"]
        assert hung.connections, "the request reached the hung chat model"
    finally:
        hung.close()


def test_bedrock_is_selected_and_configured(settings):
    from langchain_aws import ChatBedrock

    bedrock = settings.model_copy(
        update={
            "chat_provider": "bedrock",
            "aws_region": "eu-west-1",
            "bedrock_model_id": "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "chat_max_tokens": 300,
            "chat_temperature": 0.2,
        }
    )
    model = create_chat_model(bedrock)
    assert isinstance(model, ChatBedrock)
    assert model.model_id == "anthropic.claude-3-5-sonnet-20240620-v1:0"
    assert model.region_name == "eu-west-1"
    assert model._get_provider() == "anthropic"
    assert model.max_tokens == 300 and model.temperature == 0.2
    assert model.endpoint_url is None  # the regional endpoint; credentials: the AWS chain


def test_bedrock_failure_is_a_clear_503(settings, store, history, make_client, monkeypatch):
    # Credentials as IRSA would provide them (here: static test values), and no
    # instance-metadata lookups; the endpoint is a closed loopback port.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIATESTTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-not-real")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    endpoint = f"http://127.0.0.1:{free_port()}"
    bedrock = settings.model_copy(
        update={
            "chat_provider": "bedrock",
            "aws_region": "us-east-1",
            "bedrock_endpoint_url": endpoint,
            "chat_timeout_seconds": 2.0,
        }
    )
    client = make_client(bedrock, store, history)
    response = client.post("/generate", json={"prompt": BOOK_QUESTION})
    assert response.status_code == 503
    message = error_of(response)["message"]
    assert message.startswith("chat model is unavailable: Bedrock model anthropic.claude")
    assert "test-secret-not-real" not in response.text


def test_redis_down_answers_without_history_and_stays_ready(settings, store, make_client):
    """The chat history degrades instead of failing (this test asserted a 503 before the
    hardening issue): the answer comes without history, says so, and /readyz stays 200
    while reporting the store."""
    port = free_port()
    history = RedisHistory(f"redis://127.0.0.1:{port}/0", 600)
    client = make_client(settings, store, history)
    follow_up = {"prompt": BOOK_QUESTION, "session_id": str(uuid.uuid4())}  # a new one reads none
    response = client.post("/generate", json=follow_up)
    assert response.status_code == 200
    body = response.json()
    assert len(body["sources"]) == 5
    assert body["warnings"] == [
        "The chat history is unavailable right now: this answer does not use your earlier "
        "messages, and it is not saved for follow-up questions."
    ]
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["history"].startswith(
        f"chat history (Redis at 127.0.0.1:{port}) failed to answer"
    )
