"""Bounded queue (429), client disconnects freeing their slot, and the request timeout.

A dedicated server with one batch slot and a one-request queue makes capacity easy to
reach: a long streaming request holds the slot, a second one waits, a third is refused.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from myretail_inference.engine import BatchingEngine
from myretail_inference.loader import LoadedModel
from myretail_inference.settings import InferenceSettings
from myretail_testkit.inference import serve_engine, start_engine
from myretail_testkit.servers import LiveServer

pytestmark = pytest.mark.slow

# Long enough to hold the slot while the test acts, short enough for the tiny model's
# 512-token context (prompt + max_tokens beyond it is a 400 before any work).
LONG = {
    "prompt": "MyElite",
    "max_tokens": 480,
    "ignore_eos": True,
    "temperature": 0,
    "stream": True,
}


@pytest.fixture(scope="module")
def tight(
    settings: InferenceSettings, loaded: LoadedModel
) -> Iterator[tuple[LiveServer, BatchingEngine]]:
    tight_settings = settings.model_copy(update={"max_new_tokens_limit": 1024})
    engine = start_engine(loaded, max_batch_size=1, max_queue_size=1)
    try:
        with serve_engine(tight_settings, engine) as live:
            yield live, engine
    finally:
        engine.stop()


def _wait_for(condition: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


def _cancelled(server: LiveServer) -> float:
    for line in httpx.get(f"{server.url}/metrics").text.splitlines():
        if line.startswith('inference_requests_total{outcome="cancelled",tag='):
            return float(line.split()[-1])
    return 0.0


def test_full_queue_is_a_429_and_a_disconnect_frees_the_slot(
    tight: tuple[LiveServer, BatchingEngine],
) -> None:
    server, engine = tight
    cancelled_before = _cancelled(server)
    waiting_result: dict[str, httpx.Response] = {}
    with (
        httpx.Client(base_url=server.url, timeout=60) as holder,
        holder.stream("POST", "/v1/completions", json=LONG) as stream,
    ):
        lines = stream.iter_lines()  # kept referenced: dropping it would close the stream
        assert next(lines).startswith("data:")
        assert engine.stats()["active"] == 1  # the long request holds the only slot

        def wait_in_queue() -> None:
            waiting_result["response"] = httpx.post(
                f"{server.url}/generate", json={"prompt": "Tiers?", "max_new_tokens": 4}, timeout=60
            )

        waiter = threading.Thread(target=wait_in_queue)
        waiter.start()
        _wait_for(lambda: engine.stats()["queue_depth"] == 1)

        refused = httpx.post(f"{server.url}/generate", json={"prompt": "Tiers?"})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"].isdigit()
        assert "capacity" in refused.json()["error"]["message"]
        # The official client sees the same as a RateLimitError.
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.RateLimitError):
            client.completions.create(model=engine.info.name, prompt="Tiers?")
        # Leaving the block closes the streaming connection mid-generation.

    waiter.join(timeout=60)
    assert waiting_result["response"].status_code == 200  # it got the freed slot
    _wait_for(lambda: _cancelled(server) >= cancelled_before + 1)
    _wait_for(lambda: engine.stats()["active"] == 0 and engine.stats()["queue_depth"] == 0)


def test_non_streaming_disconnect_cancels_the_request(
    tight: tuple[LiveServer, BatchingEngine],
) -> None:
    server, engine = tight
    cancelled_before = _cancelled(server)
    body = b'{"prompt": "MyElite", "max_tokens": 480, "ignore_eos": true, "temperature": 0}'
    request = (
        b"POST /v1/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(request)
        _wait_for(lambda: engine.stats()["active"] == 1)
    _wait_for(lambda: _cancelled(server) >= cancelled_before + 1)
    _wait_for(lambda: engine.stats()["active"] == 0)
    response = httpx.post(f"{server.url}/generate", json={"prompt": "Tiers?", "max_new_tokens": 4})
    assert response.status_code == 200


def test_request_timeout_is_a_504(settings: InferenceSettings, loaded: LoadedModel) -> None:
    engine = start_engine(loaded, max_batch_size=2, request_timeout_seconds=0.3)
    slow = {"prompt": "MyElite", "max_tokens": 500, "ignore_eos": True, "temperature": 0}
    try:
        with serve_engine(settings.model_copy(update={"max_new_tokens_limit": 1024}), engine) as s:
            response = httpx.post(f"{s.url}/v1/completions", json=slow, timeout=30)
            assert response.status_code == 504
            assert "REQUEST_TIMEOUT_SECONDS" in response.json()["error"]["message"]
            client = openai.OpenAI(base_url=f"{s.url}/v1", api_key="unused", max_retries=0)
            with pytest.raises(openai.APIError, match="REQUEST_TIMEOUT_SECONDS"):
                for _ in client.completions.create(
                    model=engine.info.name,
                    prompt="MyElite",
                    max_tokens=500,
                    stream=True,
                    extra_body={"ignore_eos": True},
                ):
                    pass
            assert (
                f'outcome="timeout",tag="{engine.info.tag}"}} 2.0'
                in httpx.get(f"{s.url}/metrics").text
            )
            fine = httpx.post(f"{s.url}/generate", json={"prompt": "Tiers?", "max_new_tokens": 2})
            assert fine.status_code == 200
    finally:
        engine.stop()
