"""Run an ASGI app on a real loopback port in a background thread (for tests)."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import uvicorn

from myretail_common.ports import free_port
from myretail_testkit.lifecycle import StartStop


class LiveServer(StartStop):
    """``with LiveServer(app) as server: httpx.get(server.url + "/healthz")``."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_config=None, access_log=False
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def start(self, timeout: float = 120.0) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.started:
                break
            if not self.thread.is_alive():
                raise RuntimeError("server thread exited during start-up")
            time.sleep(0.05)
        else:
            raise RuntimeError(f"server did not start within {timeout}s")
        httpx.get(f"{self.url}/healthz", timeout=5).raise_for_status()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
