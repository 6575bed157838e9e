"""``scripts/demo.py`` refuses a busy port or a wrong setting before building anything."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from myretail_common.ports import free_port

from .conftest import PORT_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo.py"


def run_demo(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(DEMO), "--check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DEMO_VAR_DIR": str(tmp_path / "var"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "variable", ["INFERENCE_PORT", "RAG_API_PORT", "UI_PORT", "UI_METRICS_PORT"]
)
def test_a_busy_port_is_a_clear_error_naming_its_variable(tmp_path: Path, variable: str) -> None:
    ports = {name: str(free_port()) for name in PORT_VARIABLES}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        ports[variable] = str(busy.getsockname()[1])
        result = run_demo(tmp_path, **ports)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: port {ports[variable]} is already in use on 127.0.0.1; "
        f"stop what uses it or set {variable} to another port"
    )
    assert not (tmp_path / "var").exists(), "nothing is built before the ports are checked"


def test_a_port_that_is_not_a_number_is_a_clear_error(tmp_path: Path) -> None:
    result = run_demo(tmp_path, UI_PORT="web")
    assert result.returncode == 2
    assert "UI_PORT='web' is not a port number" in result.stderr


def test_two_services_on_one_port_is_a_clear_error(tmp_path: Path) -> None:
    port = str(free_port())
    result = run_demo(
        tmp_path,
        INFERENCE_PORT=port,
        RAG_API_PORT=port,
        UI_PORT=str(free_port()),
        UI_METRICS_PORT=str(free_port()),
    )
    assert result.returncode == 2
    assert f"INFERENCE_PORT and RAG_API_PORT are both {port}" in result.stderr


def test_an_adapter_uri_that_names_no_tag_is_a_clear_error(tmp_path: Path) -> None:
    result = run_demo(tmp_path, DEMO_ADAPTER_URI="loyalty-assistant")
    assert result.returncode == 2
    assert "DEMO_ADAPTER_URI='loyalty-assistant' is not <model store URI>/<model>/<tag>" in (
        result.stderr
    )


def test_an_adapter_that_is_not_published_is_a_clear_error(tmp_path: Path) -> None:
    ports = {name: str(free_port()) for name in PORT_VARIABLES}
    store = (tmp_path / "store").as_uri()
    result = run_demo(tmp_path, DEMO_ADAPTER_URI=f"{store}/loyalty-assistant/v9", **ports)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: DEMO_ADAPTER_URI: loyalty-assistant:v9 is not published in {store}"
    )
    assert not (tmp_path / "var").exists(), "nothing is built for a missing adapter"
