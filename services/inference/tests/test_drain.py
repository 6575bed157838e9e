"""Graceful drain: SIGTERM to a real ``myretail-inference`` process.

The in-flight stream that fits DRAIN_SECONDS completes, one that does not is cut at the
bound, readiness fails at once, new requests get a 503, and the process exits once
drained. The gateway runs in front of a slowed-down upstream (one event every 0.1 s), so
which request fits the bound does not depend on the machine's speed. The drain is the
same code for both engines (an ASGI middleware and the server's SIGTERM handler).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from myretail_common.ports import free_port
from myretail_inference.app import create_app
from myretail_inference.engine import BatchingEngine
from myretail_inference.settings import InferenceSettings
from myretail_testkit.openai_upstream import OpenAIUpstream
from myretail_testkit.processes import Supervised, http_ok
from myretail_testkit.servers import LiveServer

DRAIN_SECONDS = 6


class Stream(threading.Thread):
    """One streamed completion read in the background: its lines, and when it began."""

    def __init__(self, url: str, max_tokens: int) -> None:
        super().__init__(daemon=True)
        self.url = url
        self.body = {"prompt": "MyElite", "max_tokens": max_tokens, "ignore_eos": True}
        self.lines: list[str] = []
        self.started = threading.Event()
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            body = {**self.body, "stream": True, "temperature": 0}
            with httpx.stream("POST", f"{self.url}/v1/completions", json=body, timeout=60) as r:
                for line in r.iter_lines():
                    self.lines.append(line)
                    if line.startswith("data: {"):
                        self.started.set()
        except httpx.HTTPError as exc:  # cut by the server at the drain's bound
            self.error = exc
        finally:
            self.started.set()

    @property
    def complete(self) -> bool:
        events = [line for line in self.lines if line]
        return bool(events) and events[-1] == "data: [DONE]" and self.error is None


def gateway_process(
    settings: InferenceSettings, upstream: OpenAIUpstream, store: str, tmp: Path
) -> tuple[Supervised, str]:
    port = free_port()
    env = {
        **os.environ,
        "ENGINE": "remote",
        "UPSTREAM_BASE_URL": upstream.base_url,
        "MODEL_STORE_URI": store,
        "MODEL_NAME": settings.model_name,
        "MODEL_TAG": "v1",
        "MODEL_CACHE_DIR": str(tmp / "cache"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DRAIN_SECONDS": str(DRAIN_SECONDS),
        "LOG_FORMAT": "text",
    }
    argv = [sys.executable, "-m", "myretail_inference"]
    process = Supervised(argv, log_path=tmp / "gateway.log", env=env, ports={"PORT": port})
    return process, f"http://127.0.0.1:{port}"


def test_sigterm_drains_then_exits(
    settings: InferenceSettings, server: LiveServer, tagged_store: str, tmp_path: Path
) -> None:
    with OpenAIUpstream({"loyalty-assistant-v1": server.url}, chunk_delay=0.1) as upstream:
        process, url = gateway_process(settings, upstream, tagged_store, tmp_path)
        process.start_ready(http_ok(f"{url}/readyz"), timeout=90)
        try:
            short, long = Stream(url, max_tokens=12), Stream(url, max_tokens=200)
            for stream in (short, long):
                stream.start()
                assert stream.started.wait(30)
            signalled = time.monotonic()
            process.send_signal(signal.SIGTERM)
            ready = _eventually(lambda: httpx.get(f"{url}/readyz", timeout=5))
            assert ready.status_code == 503
            assert "shutting down" in ready.json()["checks"]["model"]
            refused = httpx.post(f"{url}/generate", json={"prompt": "Tiers?"}, timeout=10)
            assert refused.status_code == 503
            assert "draining" in refused.json()["error"]["message"]
            assert refused.headers["Retry-After"] == "1"
            refused_v1 = httpx.post(f"{url}/v1/completions", json={"prompt": "x"}, timeout=10)
            assert refused_v1.json()["error"]["type"] == "server_error"  # OpenAI's shape
            short.join(30)
            assert short.complete, short.lines[-3:]  # fits the bound: answered to the end
            process.wait(timeout=DRAIN_SECONDS + 20)
            exited_after = time.monotonic() - signalled
            long.join(10)
        finally:
            process.stop()  # if it is still running
        assert not long.complete  # 200 tokens at 0.1 s: cut at the bound
        assert DRAIN_SECONDS - 1 < exited_after < DRAIN_SECONDS + 5
        assert "draining" in process.output()


def _eventually(probe: Any, timeout: float = 5.0) -> httpx.Response:
    """The first answer of ``probe`` that is a 503 (readiness turns at once, but the
    signal is delivered asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        answer: httpx.Response = probe()
        if answer.status_code == 503 or time.monotonic() > deadline:
            return answer
        time.sleep(0.05)


def test_the_native_server_drains_the_same_way(
    settings: InferenceSettings, engine: BatchingEngine
) -> None:
    """The drain state of an in-process native server (no signal needed): a stream in
    flight completes, readiness fails and new requests get a 503."""
    app = create_app(settings, engine)
    with LiveServer(app) as server:
        stream = Stream(server.url, max_tokens=64)
        stream.start()
        assert stream.started.wait(30)
        app.state.drain.begin()
        assert httpx.get(f"{server.url}/readyz").status_code == 503
        refused = httpx.post(f"{server.url}/generate", json={"prompt": "Tiers?"}, timeout=10)
        assert refused.status_code == 503 and "draining" in refused.json()["error"]["message"]
        assert httpx.get(f"{server.url}/healthz").status_code == 200  # alive meanwhile
        stream.join(30)
        assert stream.complete
        # The server counts the request done when its handler returns, a moment after the
        # client has read the last byte.
        deadline = time.monotonic() + 10
        while app.state.drain.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)
        assert app.state.drain.in_flight == 0
