"""Hostile requests against the shared service base, over a real loopback server: bodies
too large (413 before any parsing), text no encoder can hold, NaN, client input quoted in
errors, and a client that leaves before its answer is ready."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi import Request
from pydantic import BaseModel, ConfigDict, Field

from myretail_common.disconnect import unless_disconnected
from myretail_common.errors import BadRequestError
from myretail_common.http import create_service_app
from myretail_common.quoting import client_text
from myretail_common.request_guard import UnacceptableJsonError, check_json_text
from myretail_common.settings import ServiceSettings
from myretail_testkit.servers import LiveServer

CAP = 4096


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(max_length=1000)
    tags: dict[str, str] = Field(default_factory=dict, max_length=10)
    counts: list[int] = Field(default_factory=list, max_length=500)


class Service:
    """A service on the shared base, recording what its routes saw."""

    def __init__(self) -> None:
        self.calls = 0
        self.started = threading.Event()
        self.cancelled = threading.Event()
        settings = ServiceSettings(max_request_bytes=CAP)
        self.app = create_service_app("limits", "1", settings=settings)

        @self.app.post("/notes")
        async def notes(note: Note) -> dict[str, int]:
            self.calls += 1
            return {"chars": len(note.text)}

        @self.app.post("/lookup")
        async def lookup(note: Note) -> None:
            raise BadRequestError(f"no product is called {client_text(note.text)}")

        @self.app.post("/slow")
        async def slow(request: Request) -> dict[str, str]:
            return await unless_disconnected(request, self._work())

    async def _work(self) -> dict[str, str]:
        self.started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return {"status": "finished"}


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[Service, str]]:
    built = Service()
    with LiveServer(built.app) as server:
        yield built, server.url


def post(url: str, content: bytes, **headers: str) -> httpx.Response:
    return httpx.post(
        url, content=content, headers={"content-type": "application/json", **headers}, timeout=30
    )


def test_a_body_over_the_cap_is_a_413_before_the_route_runs(service):
    built, url = service
    before = built.calls
    response = post(f"{url}/notes", b'{"text": "' + b"x" * CAP + b'"}')
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["type"] == "payload_too_large"
    assert f"larger than {CAP} bytes" in error["message"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert built.calls == before


def test_a_chunked_body_without_a_length_is_capped_too(service):
    built, url = service
    before = built.calls

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    response = httpx.post(
        f"{url}/notes", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert built.calls == before
    assert post(f"{url}/notes", b'{"text": "fits"}').json() == {"chars": 4}


@pytest.mark.parametrize(
    "body",
    [
        rb'{"text": "\ud800"}',
        rb'{"text": "ok \udfff end"}',
        rb'{"text": "ok", "tags": {"\udc80": "key"}}',
        rb'{"text": "ok", "tags": {"colour": "\uDBFF"}}',
        rb'{"text": "\ud83d"}',  # a high surrogate without its low half
    ],
)
def test_text_that_cannot_be_encoded_is_a_400_in_any_field(service, body):
    response = post(f"{service[1]}/notes", body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_json"
    assert "valid Unicode" in error["message"]


def test_paired_surrogates_and_escaped_backslashes_are_ordinary_text(service):
    url = service[1]
    assert post(f"{url}/notes", rb'{"text": "\ud83d\ude00"}').json() == {"chars": 1}
    assert post(f"{url}/notes", rb'{"text": "\\ud800"}').json() == {"chars": 6}


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_numbers_that_json_does_not_have_are_a_400(service, constant):
    response = post(f"{service[1]}/notes", b'{"text": "ok", "weight": ' + constant + b"}")
    assert response.status_code == 400
    assert "finite" in response.json()["error"]["message"]


def test_broken_json_is_still_reported_as_such(service):
    response = post(f"{service[1]}/notes", b'{"text": "\\ud800"')
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_json"


def test_error_bodies_quote_only_a_short_prefix_of_client_input(service):
    url = service[1]
    secret = "sk-live-" + "s" * 900
    response = post(f"{url}/lookup", json.dumps({"text": secret}).encode())
    assert response.status_code == 400
    message = response.json()["error"]["message"]
    assert message.startswith("no product is called 'sk-live-sss")
    assert message.endswith("…") and len(message) < 100
    # Keys a client chose are field names in a validation error: bounded too.
    long_key = "k" * 3000
    response = post(f"{url}/notes", json.dumps({"text": "a", long_key: 1}).encode())
    assert response.status_code == 422
    assert len(response.text) < 1500
    assert long_key not in response.text


def test_every_problem_list_is_bounded(service):
    counts = [f"not a number {i}" for i in range(200)]  # 200 problems
    response = post(f"{service[1]}/notes", json.dumps({"text": "a", "counts": counts}).encode())
    assert response.status_code == 422
    details = response.json()["error"]["details"]
    assert len(details) == 20
    assert details[0]["field"] == "body.counts.0"


def test_work_stops_when_the_client_leaves(service):
    built, url = service
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(f"{url}/slow", timeout=httpx.Timeout(30, read=1.0))
    assert built.started.is_set()
    # The server noticed the closed connection and cancelled the work, well before it
    # would have finished (60 s).
    assert built.cancelled.wait(20)


def test_the_check_needs_no_route():
    with pytest.raises(UnacceptableJsonError):
        check_json_text(b'[[[[{"deep": ["\\ud800"]}]]]]')
    check_json_text(b'{"plain": "text", "n": 1.5}')
    check_json_text(b"[" * 100_000)  # not JSON, and not this check's business
