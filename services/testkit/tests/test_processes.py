"""The process supervisor with real subprocesses: readiness, early exit, group stop, ports."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from myretail_common.ports import PortInUseError, free_port
from myretail_testkit.processes import (
    ProcessError,
    Supervised,
    http_ok,
    port_open,
    process_gone,
    stop_all,
)


def python(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


def within(timeout: float, condition: Callable[[], bool]) -> bool:
    """True once ``condition()`` holds, False if it never did within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


def wait_gone(pid: int, timeout: float = 10.0) -> bool:
    return within(timeout, lambda: process_gone(pid))


def wait_running(pid: int, program: str, timeout: float = 10.0) -> bool:
    """True once ``pid`` runs ``program`` (its /proc comm), i.e. it has exec'd."""

    def runs_program() -> bool:
        try:
            return Path(f"/proc/{pid}/comm").read_text().strip() == program
        except OSError:  # gone
            return False

    return within(timeout, runs_program)


def pids_in(output: str, label: str) -> list[int]:
    return [int(line.split()[1]) for line in output.splitlines() if line.startswith(label)]


def test_waits_for_the_port_and_for_http_200(tmp_path: Path) -> None:
    port = free_port()
    # Listens only after a while, so a probe that did not wait would fail.
    argv = python(
        f"""
        import time; time.sleep(0.5)
        import http.server
        http.server.ThreadingHTTPServer(
            ("127.0.0.1", {port}), http.server.SimpleHTTPRequestHandler
        ).serve_forever()
        """
    )
    assert not port_open(port)()
    with Supervised(argv, log_path=tmp_path / "http.log", cwd=tmp_path) as server:
        server.wait_ready(port_open(port), timeout=30)
        server.wait_ready(http_ok(f"http://127.0.0.1:{port}/"), timeout=30)
        assert server.alive()
    assert not server.alive()
    assert not port_open(port)()


def test_an_early_exit_fails_the_wait_with_the_log_tail(tmp_path: Path) -> None:
    argv = python(
        """
        import sys
        print("loading settings")
        print("error: MODEL_TAG is not set", file=sys.stderr)
        sys.exit(3)
        """
    )
    with Supervised(argv, log_path=tmp_path / "svc.log", name="svc") as service:
        started = time.monotonic()
        with pytest.raises(ProcessError) as failure:
            service.wait_ready(lambda: False, timeout=60)
    assert time.monotonic() - started < 30, "the exit is noticed, not waited out"
    message = str(failure.value)
    assert message.startswith("svc exited early (exit code 3). Last lines of ")
    assert "    loading settings\n    error: MODEL_TAG is not set" in message


def test_a_probe_that_never_succeeds_times_out_quoting_its_last_error(tmp_path: Path) -> None:
    def probe() -> bool:
        raise ConnectionRefusedError("nothing listens")

    argv = python("import time; print('still starting', flush=True); time.sleep(60)")
    with Supervised(argv, log_path=tmp_path / "slow.log", name="slow") as slow:
        with pytest.raises(ProcessError) as failure:
            slow.wait_ready(probe, timeout=1, interval=0.1)
        assert slow.alive()
    message = str(failure.value)
    assert message.startswith("slow not ready after 1s (last probe error: ConnectionRefused")
    assert "still starting" in message


def test_stop_ends_the_whole_group_including_grandchildren(tmp_path: Path) -> None:
    argv = python(
        """
        import os, subprocess, time
        grandchild = subprocess.Popen(["sleep", "300"])
        print("leader", os.getpid(), flush=True)
        print("grandchild", grandchild.pid, flush=True)
        time.sleep(300)
        """
    )
    with Supervised(argv, log_path=tmp_path / "tree.log") as tree:
        tree.wait_ready(lambda: "grandchild" in tree.output(), timeout=30)
        [leader] = pids_in(tree.output(), "leader")
        [grandchild] = pids_in(tree.output(), "grandchild")
        assert os.getpgid(grandchild) == os.getpgid(leader) == leader
    assert tree.returncode == -signal.SIGTERM
    assert wait_gone(grandchild), "the grandchild outlived the stop"


def test_a_group_ignoring_the_signal_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    argv = python(
        """
        import signal, time
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        print("ignoring SIGINT", flush=True)
        time.sleep(300)
        """
    )
    stubborn = Supervised(argv, log_path=tmp_path / "stubborn.log").start()
    stubborn.wait_ready(lambda: "ignoring" in stubborn.output(), timeout=30)
    started = time.monotonic()
    assert stubborn.stop(signal.SIGINT, grace=0.5) == -signal.SIGKILL
    assert time.monotonic() - started < 10


def test_stop_all_shares_one_grace_period(tmp_path: Path) -> None:
    argv = python(
        """
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(300)
        """
    )
    group = [Supervised(argv, log_path=tmp_path / f"p{i}.log").start() for i in range(3)]
    for supervised in group:
        supervised.wait_ready(lambda s=supervised: "ready" in s.output(), timeout=30)
    started = time.monotonic()
    stop_all(group, grace=1.0)
    assert time.monotonic() - started < 2.5, "one grace period, not one per process"
    assert [s.returncode for s in group] == [-signal.SIGKILL] * 3


def test_a_taken_port_is_a_clear_error_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        server = Supervised(
            python("print('started')"), log_path=tmp_path / "svc.log", ports={"SVC_PORT": port}
        )
        with pytest.raises(PortInUseError) as error:
            server.start()
    assert str(error.value) == (
        f"port {port} is already in use on 127.0.0.1; "
        "stop what uses it or set SVC_PORT to another port"
    )
    assert server.process is None
    assert not (tmp_path / "svc.log").exists()


def test_wait_success_and_the_output_of_each_start(tmp_path: Path) -> None:
    log = tmp_path / "job.log"
    Supervised(python("print('first run')"), log_path=log).start().wait_success(timeout=60)
    second = Supervised(python("print('second run')"), log_path=log).start()
    second.wait_success(timeout=60)
    assert second.output() == "second run\n"
    assert "first run" in log.read_text(), "a log is appended to, not replaced"
    failing = Supervised(python("import sys; sys.exit('no such file')"), log_path=log, name="job")
    with pytest.raises(ProcessError, match=r"job failed \(exit code 1\)(.|\n)*no such file"):
        failing.start().wait_success(timeout=60)


def test_children_get_sigterm_when_their_supervisor_is_killed(tmp_path: Path) -> None:
    """A test run killed by SIGKILL leaves no server behind (Linux's parent-death signal)."""
    supervisor = subprocess.Popen(
        python(
            f"""
            import sys, time
            from pathlib import Path
            from myretail_testkit.processes import Supervised
            server = Supervised(["sleep", "300"], log_path=Path({str(tmp_path)!r}) / "s.log")
            print(server.start().pid, flush=True)
            time.sleep(300)
            """
        ),
        stdout=subprocess.PIPE,
        text=True,
    )
    assert supervisor.stdout is not None
    server_pid = int(supervisor.stdout.readline())
    assert not process_gone(server_pid)
    # setpriv sets the death signal and then execs: killing the supervisor before that
    # (a busy CI machine) would test nothing, so wait until the command itself runs.
    assert wait_running(server_pid, "sleep"), "setpriv never exec'd the command"
    supervisor.kill()
    supervisor.wait()
    assert wait_gone(server_pid), "the server outlived its supervisor"
