"""The shared FastAPI base: errors, request ids, health, readiness and metrics."""

from __future__ import annotations

import io
import json
import logging

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from myretail_common.errors import ServiceUnavailableError, TooManyRequestsError
from myretail_common.health import Readiness
from myretail_common.http import create_service_app
from myretail_common.logs import configure_logging


class Echo(BaseModel):
    text: str = Field(min_length=1)
    count: int = Field(default=1, ge=1, le=10)


@pytest.fixture
def app_and_state():
    state = {"vector_store_up": True}
    readiness = Readiness(timeout_seconds=0.5)

    def vector_store() -> None:
        if not state["vector_store_up"]:
            raise ConnectionError("qdrant at http://qdrant:6333 refused the connection")

    readiness.add("vector_store", vector_store)
    app = create_service_app("test", "1.0", readiness)

    @app.post("/echo")
    async def echo(body: Echo) -> dict[str, str]:
        return {"text": body.text * body.count}

    @app.get("/down")
    async def down() -> None:
        raise ServiceUnavailableError("vector store", "qdrant did not answer")

    @app.get("/busy")
    async def busy() -> None:
        raise TooManyRequestsError("queue full", retry_after_seconds=2)

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internal detail")

    return app, state


@pytest.fixture
def client(app_and_state):
    return TestClient(app_and_state[0], raise_server_exceptions=False)


def test_invalid_json_is_a_400(client):
    response = client.post(
        "/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_json"


def test_validation_errors_name_the_field_but_never_echo_the_value(client):
    response = client.post("/echo", json={"text": "sk-live-abcdef", "count": 99})
    assert response.status_code == 422
    body = response.json()["error"]
    assert body["type"] == "invalid_request"
    assert body["details"][0]["field"] == "body.count"
    assert "less than or equal to 10" in body["message"]
    assert "sk-live-abcdef" not in response.text


def test_dependency_outage_is_a_503_naming_it(client):
    response = client.get("/down")
    assert response.status_code == 503
    assert response.json()["error"]["message"] == (
        "vector store is unavailable: qdrant did not answer"
    )
    assert response.headers["retry-after"] == "5"


def test_queue_full_is_a_429_with_retry_after(client):
    response = client.get("/busy")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "2"


def test_unexpected_errors_are_a_500_without_details(client):
    response = client.get("/boom")
    assert response.status_code == 500
    assert "secret internal detail" not in response.text
    assert response.json()["error"]["request_id"] == response.headers["x-request-id"]


def test_unknown_route_and_method_are_json_4xx(client):
    assert client.get("/nope").json()["error"]["type"] == "not_found"
    assert client.get("/echo").status_code == 405


def test_request_ids_are_kept_or_made_and_logged(client):
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        response = client.post("/echo", json={"text": "hi"}, headers={"x-request-id": "abc-123"})
    finally:
        configure_logging("INFO", "json")
    assert response.headers["x-request-id"] == "abc-123"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    request_line = next(line for line in lines if line["message"] == "request")
    assert request_line["request_id"] == "abc-123"
    assert request_line["path"] == "/echo" and request_line["status"] == 200
    assert len(client.get("/healthz").headers["x-request-id"]) == 32


def test_readiness_names_the_failing_check_and_recovers(app_and_state, client):
    _, state = app_and_state
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"vector_store": "ok"}}
    state["vector_store_up"] = False
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "refused the connection" in response.json()["checks"]["vector_store"]
    state["vector_store_up"] = True
    assert client.get("/readyz").status_code == 200
    assert client.get("/healthz").json() == {"status": "ok"}


def test_metrics_count_requests_by_route(client):
    client.post("/echo", json={"text": "a"})
    client.post("/echo", json={"text": ""})
    text = client.get("/metrics").text
    assert 'http_requests_total{method="POST",route="/echo",status="200"} 1.0' in text
    assert 'http_requests_total{method="POST",route="/echo",status="422"} 1.0' in text
    assert "http_request_duration_seconds_bucket" in text


def test_two_apps_in_one_process_keep_their_own_metrics():
    first = TestClient(create_service_app("a", "1"))
    second = TestClient(create_service_app("b", "1"))
    first.get("/healthz")
    assert 'route="/healthz"' in first.get("/metrics").text
    assert 'route="/healthz"' not in second.get("/metrics").text


def test_text_log_format_masks_secrets():
    from myretail_common.logs import register_secret

    stream = io.StringIO()
    configure_logging("INFO", "text", stream=stream)
    register_secret("hf_supersecrettoken")
    try:
        logging.getLogger("x").warning("token is hf_supersecrettoken")
    finally:
        configure_logging("INFO", "json")
    assert "hf_supersecrettoken" not in stream.getvalue()
    assert "token is ***" in stream.getvalue()


def test_reported_states_are_shown_but_never_decide_readiness() -> None:
    import asyncio

    readiness = Readiness(timeout_seconds=0.5)
    up = {"store": True}

    def store() -> None:
        if not up["store"]:
            raise ConnectionError("refused")

    readiness.add("store", store)
    readiness.report("catalog", lambda: "empty: it is being restored or loaded")
    assert asyncio.run(readiness.evaluate()) == (
        True,
        {"store": "ok", "catalog": "empty: it is being restored or loaded"},
    )
    up["store"] = False
    ready, results = asyncio.run(readiness.evaluate())
    assert not ready and results["store"] == "refused"
    assert results["catalog"] == "empty: it is being restored or loaded"
