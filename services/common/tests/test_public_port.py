"""What a service's public port shows: the API docs and /metrics can be kept off it
(``PUBLIC_API_DOCS=false``, ``METRICS_PORT``), as the public UI does."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap

import httpx
import pytest

from myretail_common.health import Readiness
from myretail_common.http import create_service_app
from myretail_common.ports import free_port
from myretail_common.settings import ServiceSettings
from myretail_testkit.processes import Supervised, http_ok
from myretail_testkit.servers import LiveServer

PRIVATE_PATHS = ["/docs", "/redoc", "/openapi.json", "/metrics"]


def test_docs_and_metrics_can_be_kept_off_the_public_port():
    settings = ServiceSettings(public_api_docs=False, metrics_port=free_port())
    with LiveServer(create_service_app("public", "1", settings=settings)) as server:
        for path in PRIVATE_PATHS:
            assert httpx.get(server.url + path).status_code == 404, path
        assert httpx.get(server.url + "/healthz").status_code == 200
        assert httpx.get(server.url + "/readyz").status_code == 200


def test_by_default_a_service_shows_its_docs_and_metrics():
    with LiveServer(create_service_app("internal", "1")) as server:
        for path in PRIVATE_PATHS:
            assert httpx.get(server.url + path).status_code == 200, path


SERVE = textwrap.dedent(
    """
    from myretail_common.http import create_service_app, run_server
    from myretail_common.settings import ServiceSettings

    settings = ServiceSettings(host="127.0.0.1")  # PORT and METRICS_PORT from the environment
    run_server(create_service_app("served", "1", settings=settings), settings)
    """
)


def test_run_server_serves_metrics_on_their_own_port_and_stops_both(tmp_path):
    port, metrics_port = free_port(), free_port()
    served = Supervised(
        [sys.executable, "-c", SERVE],
        name="served",
        log_path=tmp_path / "served.log",
        env={**os.environ, "PORT": str(port), "METRICS_PORT": str(metrics_port)},
        ports={"PORT": port, "METRICS_PORT": metrics_port},
    )
    main, side = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"
    served.start_ready(http_ok(f"{main}/healthz"), timeout=60)
    try:
        served.wait_ready(http_ok(f"{side}/metrics"), timeout=60)
        httpx.get(f"{main}/healthz")
        metrics = httpx.get(f"{side}/metrics").text
        assert 'http_requests_total{method="GET",route="/healthz",status="200"}' in metrics
        assert httpx.get(f"{main}/metrics").status_code == 404
        assert httpx.get(f"{side}/healthz").status_code == 404
        served.send_signal(signal.SIGTERM)
        served.wait(timeout=30)
    finally:
        served.stop()
    for serving in (main, side):
        with pytest.raises(httpx.TransportError):
            httpx.get(serving, timeout=2)


def test_reported_states_may_be_async_and_a_failing_one_is_shown_by_its_reason():
    readiness = Readiness(timeout_seconds=0.2)

    async def history() -> str:
        raise ConnectionError("redis at redis:6379 refused the connection")

    async def slow() -> str:
        await asyncio.sleep(5)
        return "never"

    async def catalog() -> str:
        return "1233 products"

    readiness.report("history", history)
    readiness.report("slow", slow)
    readiness.report("catalog", catalog)
    assert asyncio.run(readiness.evaluate()) == (
        True,
        {
            "history": "redis at redis:6379 refused the connection",
            "slow": "timed out after 0.2s",
            "catalog": "1233 products",
        },
    )
