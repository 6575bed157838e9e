"""Fixtures of the end-to-end tests: the local stack, started by ``scripts/demo.py``.

The tests start the stack exactly the way ``make demo`` does (one way to start it), as a
subprocess in a temporary var/ folder on free ports; they read its progress output and
stop it with Ctrl-C (SIGINT), as a user would. The first start trains the tiny model and
loads the catalog; later starts in the same folder reuse both.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from myretail_common.ports import free_port
from myretail_testkit.browser import chromium_available, launch_chromium

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scripts" / "demo.py"
UP_LINE = "MyRetail is up"

# Enough training for the tiny model to answer the training questions, and no more.
FAST_TRAINING = {
    "EVAL_BEFORE_TRAINING": "false",
    "EVAL_TRAIN_ACCURACY": "false",
    "EVAL_MAX_EXAMPLES": "16",
}


def demo_env(var_dir: Path, ports: dict[str, int], **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("INFERENCE_PORT", "RAG_API_PORT", "UI_PORT", "DEMO_VAR_DIR", "PORT")
    }
    env.update({name: str(port) for name, port in ports.items()})
    env.update({"DEMO_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1", **FAST_TRAINING})
    env.update(extra)
    return env


def free_ports() -> dict[str, int]:
    ports: dict[str, int] = {}
    while len(set(ports.values())) < 3:
        ports = {name: free_port() for name in ("INFERENCE_PORT", "RAG_API_PORT", "UI_PORT")}
    return ports


@dataclass
class DemoRun:
    """A running ``demo.py`` and everything it printed."""

    process: subprocess.Popen[str]
    ports: dict[str, int]
    var_dir: Path
    lines: list[str] = field(default_factory=list)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def url(self, variable: str) -> str:
        return f"http://127.0.0.1:{self.ports[variable]}"

    def wait_for(self, pattern: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            if self.process.poll() is not None:
                time.sleep(0.2)  # let the reader thread catch the last lines
                raise AssertionError(
                    f"demo.py exited with {self.process.returncode} before printing "
                    f"{pattern!r}:\n{self.output}"
                )
            time.sleep(0.2)
        raise AssertionError(f"demo.py did not print {pattern!r} in {timeout:.0f}s:\n{self.output}")

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C, as in a terminal; returns the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=timeout)


@contextmanager
def run_demo(
    var_dir: Path, ports: dict[str, int], *args: str, log: Path | None = None
) -> Iterator[DemoRun]:
    process = subprocess.Popen(
        [sys.executable, str(DEMO), *args],
        cwd=ROOT,
        env=demo_env(var_dir, ports),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
    )
    run = DemoRun(process, ports, var_dir)
    log_file = log.open("a", encoding="utf-8") if log else None

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            run.lines.append(line.rstrip("\n"))
            if log_file:
                log_file.write(line)
                log_file.flush()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        yield run
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=10)
        if log_file:
            log_file.close()


@pytest.fixture(scope="session")
def e2e_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """var/ of the stack the end-to-end tests share (trained once per test session).

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


@pytest.fixture(scope="module")
def demo_stack(e2e_dir: Path, demo_log: Path) -> Iterator[DemoRun]:
    """The whole stack, up and ready; stopped (Ctrl-C) at the end of the module."""
    with run_demo(e2e_dir, free_ports(), log=demo_log) as run:
        run.wait_for(UP_LINE, timeout=900)
        yield run


@pytest.fixture(scope="session")
def start_demo(demo_log: Path) -> object:
    """``start_demo(var_dir, ports, *args)``: a context manager running demo.py."""

    def start(var_dir: Path, ports: dict[str, int], *args: str) -> object:
        return run_demo(var_dir, ports, *args, log=demo_log)

    return start


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not chromium_available():
        pytest.fail("Chromium is missing: apt-get install chromium (`make system-deps`)")
    with launch_chromium() as chromium:
        yield chromium
