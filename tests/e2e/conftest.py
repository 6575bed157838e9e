"""Fixtures of the end-to-end tests: the local stack, started by ``scripts/demo.py``.

The tests start the stack exactly the way ``make demo`` does (one way to start it), as a
supervised subprocess in a temporary var/ folder on free ports; they read its progress
output from its log and stop it with Ctrl-C (SIGINT), as a user would. The stack serves
the test session's ``published_adapter`` (``DEMO_ADAPTER_URI``), so nothing is trained
here; the first start loads the catalog, later starts in the same folder reuse it.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from myretail_common.ports import free_port
from myretail_testkit.models import PublishedAdapter
from myretail_testkit.processes import Supervised

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo.py"
UP_LINE = "MyRetail is up"
PORT_VARIABLES = ("INFERENCE_PORT", "RAG_API_PORT", "UI_PORT", "UI_METRICS_PORT")

StartDemo = Callable[..., AbstractContextManager["DemoRun"]]


def demo_env(var_dir: Path, ports: dict[str, int], **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in (*PORT_VARIABLES, "DEMO_VAR_DIR", "DEMO_ADAPTER_URI", "PORT")
    }
    env.update({name: str(port) for name, port in ports.items()})
    env.update({"DEMO_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def free_ports() -> dict[str, int]:
    ports: dict[str, int] = {}
    while len(set(ports.values())) < len(PORT_VARIABLES):
        ports = {name: free_port() for name in PORT_VARIABLES}
    return ports


@dataclass
class DemoRun:
    """A running ``demo.py`` and everything it printed."""

    process: Supervised
    ports: dict[str, int]
    var_dir: Path

    @property
    def output(self) -> str:
        return self.process.output()

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"

    def wait_for(self, pattern: str, timeout: float) -> str:
        """The first line of its output matching ``pattern``, once it is printed."""

        def printed() -> str | None:
            return next(
                (line for line in self.output.splitlines() if re.search(pattern, line)), None
            )

        self.process.wait_ready(printed, timeout)
        line = printed()
        assert line is not None
        return line

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C, as in a terminal; returns the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


@contextmanager
def run_demo(
    var_dir: Path, ports: dict[str, int], *args: str, log: Path, adapter_uri: str
) -> Iterator[DemoRun]:
    """demo.py serving the adapter at ``adapter_uri``; Ctrl-C'd (then killed) at the end."""
    process = Supervised(
        [sys.executable, str(DEMO), *args],
        name="demo.py",
        log_path=log,
        env=demo_env(var_dir, ports, DEMO_ADAPTER_URI=adapter_uri),
        cwd=ROOT,
    )
    process.start()
    try:
        yield DemoRun(process, ports, var_dir)
    finally:
        process.stop(signal.SIGINT, grace=60)


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """var/ of the stack the end-to-end tests share (its catalog is loaded once).

    ``E2E_VAR_DIR`` names a folder to use instead (e.g. a copy of a demo's var/ while
    iterating on the tests): whatever it already holds is reused, as by a second run.
    """
    if os.environ.get("E2E_VAR_DIR"):
        folder = Path(os.environ["E2E_VAR_DIR"]).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder
    return tmp_path_factory.mktemp("demo-var")


@pytest.fixture(scope="session")
def demo_log(e2e_dir: Path) -> Path:
    artifacts = Path(os.environ.get("ARTIFACTS_DIR", ROOT / "artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    log = artifacts / "e2e-demo-output.log"
    log.write_text(f"demo.py runs in {e2e_dir}\n", encoding="utf-8")
    return log


@pytest.fixture(scope="session")
def start_demo(demo_log: Path, published_adapter: PublishedAdapter) -> StartDemo:
    """``start_demo(var_dir, ports, *args)``: a context manager running demo.py."""

    def start(var_dir: Path, ports: dict[str, int], *args: str) -> AbstractContextManager[DemoRun]:
        return run_demo(var_dir, ports, *args, log=demo_log, adapter_uri=published_adapter.uri)

    return start


@pytest.fixture(scope="module")
def demo_stack(e2e_dir: Path, start_demo: StartDemo) -> Iterator[DemoRun]:
    """The whole stack, up and ready; stopped (Ctrl-C) at the end of the module."""
    with start_demo(e2e_dir, free_ports()) as run:
        run.wait_for(UP_LINE, timeout=900)
        yield run
