"""One process supervisor for tests, ``scripts/demo.py`` and the benchmarks.

:class:`Supervised` starts a command in its own process group with stdout and stderr
appended to a log file, waits until a readiness probe says yes (failing early, with the
tail of the log, when the process exits first), and stops the whole group: the signal
(SIGTERM by default), a grace period, then SIGKILL. A port it needs that is already
taken is a :class:`~myretail_common.ports.PortInUseError` before anything starts::

    with Supervised(["redis-server", "--port", "6400"], log_path=folder / "redis.log",
                    ports={"REDIS_PORT": 6400}) as redis:
        redis.wait_ready(port_open(6400), timeout=20)
        ...

A probe is any callable returning a truth value; an exception counts as "not yet" (the
last one is quoted if the wait times out). :func:`port_open` and :func:`http_ok` are the
usual ones.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from myretail_common.ports import ensure_port_free
from myretail_testkit.lifecycle import StartStop

Probe = Callable[[], object]
"""A readiness check: truthy once the process is ready; raising means "not yet"."""

DEFAULT_GRACE_SECONDS = 15.0
LOG_HEADER = "====="  # starts the line each start appends to a log (filter it from tails)


class ProcessError(RuntimeError):
    """A supervised process exited early, failed, or did not become ready in time."""


def _with_parent_death_signal(argv: list[str]) -> list[str]:
    """``argv`` run so that it gets SIGTERM when this process dies, even by SIGKILL.

    util-linux's ``setpriv`` sets Linux's parent-death signal and then execs the command
    (same pid), which is safe where a ``preexec_fn`` in a process with threads is not.
    Without ``setpriv`` (not Linux) the command runs as it is. The kernel ties the signal
    to the *thread* that started the child: start supervised processes from a thread that
    outlives them (the main thread, a pytest fixture). setpriv arms the signal a moment
    after the child starts; a parent killed within that moment leaves the child running.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


# ------------------------------------------------------------------------------ logs


def log_tail(path: Path, count: int, limit: int = 65536) -> list[str]:
    """The last ``count`` non-blank lines of a log (``\\r`` progress bars split into lines)."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - limit))
            text = handle.read().decode("utf-8", "replace")
    except OSError:
        return []
    lines = [line for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-count:]


def display_path(path: Path) -> str:
    """``path`` relative to the current folder when it lies below it (shorter messages)."""
    with contextlib.suppress(ValueError):
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    return str(path)


# ------------------------------------------------------------------------------ probes


def port_open(port: int, host: str = "127.0.0.1") -> Probe:
    """Ready once something accepts TCP connections on ``host:port``."""

    def probe() -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as connection:
            connection.settimeout(0.5)
            return connection.connect_ex((host, port)) == 0

    return probe


def http_status(url: str, timeout: float = 2.0) -> int:
    """The HTTP status of a GET (0 when nothing answers)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code
    except (OSError, ValueError):
        return 0


def http_ok(url: str, timeout: float = 2.0) -> Probe:
    """Ready once a GET of ``url`` answers 200."""
    return lambda: http_status(url, timeout) == 200


# ------------------------------------------------------------------------------ processes


def process_gone(pid: int) -> bool:
    """True when ``pid`` has exited (a zombie nobody has reaped yet counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X")


class Supervised(StartStop):
    """One command in its own process group, logged to a file; a context manager.

    ``name`` labels errors (default: the program's file name). ``env`` is the child's
    whole environment (default: this process's). ``ports`` maps a label (such as the
    variable that moves the port) to a port the command will listen on: each must be
    free when it starts. ``die_with_parent`` (default on) sends the group's leader
    SIGTERM when this process dies, so a killed test run leaves no server behind.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        log_path: Path,
        name: str | None = None,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ports: Mapping[str, int] | None = None,
        port_host: str = "127.0.0.1",
        die_with_parent: bool = True,
    ) -> None:
        self.argv = [str(arg) for arg in argv]
        self.name = name or Path(self.argv[0]).name
        self.log_path = Path(log_path)
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.ports = dict(ports or {})
        self.port_host = port_host
        self.die_with_parent = die_with_parent
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0

    # -- starting ------------------------------------------------------------------------
    def start(self) -> Supervised:
        """Check the ports, then start the command (appending to its log)."""
        if self.process is not None:
            raise ProcessError(f"{self.name} is already started")
        for label, port in self.ports.items():
            ensure_port_free(port, label, host=self.port_host)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"{LOG_HEADER} {time.strftime('%F %T')} {' '.join(self.argv)}\n".encode())
            log.flush()
            self._log_start = log.tell()
            self.process = subprocess.Popen(
                _with_parent_death_signal(self.argv) if self.die_with_parent else self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own group: a terminal's Ctrl-C reaches only us, and stop() reaches
                # every process the command itself starts.
                start_new_session=True,
            )
        return self

    def start_ready(self, probe: Probe, timeout: float, interval: float = 0.2) -> Supervised:
        """Start, then wait until ``probe`` says ready; stopped again when that fails."""
        self.start()
        try:
            self.wait_ready(probe, timeout, interval)
        except BaseException:
            self.stop()
            raise
        return self

    # -- state ---------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        return self._started().pid

    @property
    def returncode(self) -> int | None:
        """The exit code once it has exited (negative: killed by that signal), else None."""
        return self._started().poll()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """Everything this start has written to the log so far."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(self._log_start)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def failure(self, what: str, lines: int = 15) -> ProcessError:
        """``<name> <what> (exit code N). Last lines of <log>:`` and the log's tail."""
        code = self.process.poll() if self.process is not None else None
        status = f" (exit code {code})" if code is not None else ""
        tail = "\n".join(f"    {line}" for line in log_tail(self.log_path, lines))
        return ProcessError(
            f"{self.name} {what}{status}. Last lines of {display_path(self.log_path)}:\n{tail}"
        )

    def check_alive(self, what: str = "exited early") -> None:
        """Raise :class:`ProcessError` with the log's tail when the process has exited."""
        if self._started().poll() is not None:
            raise self.failure(what)

    # -- waiting -------------------------------------------------------------------------
    def wait_ready(
        self,
        probe: Probe,
        timeout: float,
        interval: float = 0.2,
        on_wait: Callable[[Supervised], None] | None = None,
    ) -> Supervised:
        """Poll ``probe`` until it is truthy; fail early when the process exits."""
        wait_all_ready([(self, probe)], timeout, interval=interval, on_wait=on_wait)
        return self

    def wait(
        self,
        timeout: float | None = None,
        interval: float = 0.5,
        on_wait: Callable[[Supervised], None] | None = None,
    ) -> int:
        """Wait for the process to exit (``on_wait`` runs every ``interval``); its code."""
        process = self._started()
        deadline = None if timeout is None else time.monotonic() + timeout
        while process.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise self.failure(f"did not finish within {timeout:.0f}s")
            if on_wait is not None:
                on_wait(self)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=interval)
        return process.returncode

    def wait_success(
        self,
        timeout: float | None = None,
        interval: float = 0.5,
        on_wait: Callable[[Supervised], None] | None = None,
    ) -> None:
        """Wait for the process to exit; :class:`ProcessError` with the log unless it is 0."""
        if self.wait(timeout, interval, on_wait) != 0:
            raise self.failure("failed")

    # -- stopping ------------------------------------------------------------------------
    def send_signal(self, sig: signal.Signals) -> None:
        """Signal the whole process group (the command and whatever it started)."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, sig)

    def stop(
        self, sig: signal.Signals = signal.SIGTERM, grace: float = DEFAULT_GRACE_SECONDS
    ) -> int | None:
        """``sig`` to the group, up to ``grace`` seconds, then SIGKILL; the exit code."""
        stop_all([self], sig, grace)
        return self.process.returncode if self.process is not None else None

    def _started(self) -> subprocess.Popen[bytes]:
        if self.process is None:
            raise ProcessError(f"{self.name} is not started")
        return self.process


def wait_all_ready(
    pending: Iterable[tuple[Supervised, Probe]],
    timeout: float,
    interval: float = 0.2,
    on_wait: Callable[[Supervised], None] | None = None,
    on_ready: Callable[[Supervised, float], None] | None = None,
) -> None:
    """Wait until every process's probe is truthy (they start up side by side).

    Any of them exiting first is a :class:`ProcessError` quoting its log. ``on_ready``
    gets each process and its wait in seconds as it becomes ready; ``on_wait`` gets the
    first one still pending after each round (for a progress line).
    """
    waiting = list(pending)
    started = time.monotonic()
    last_errors: dict[str, str] = {}
    while waiting:
        for entry in list(waiting):
            supervised, probe = entry
            supervised.check_alive()
            try:
                ready = probe()
            except Exception as probe_error:  # a probe raising means "not yet"
                last_errors[supervised.name] = f"{type(probe_error).__name__}: {probe_error}"
                ready = False
            if ready:
                waiting.remove(entry)
                if on_ready is not None:
                    on_ready(supervised, time.monotonic() - started)
        if not waiting:
            return
        if time.monotonic() - started > timeout:
            failures = []
            for supervised, _ in waiting:
                error = last_errors.get(supervised.name)
                detail = f" (last probe error: {error})" if error else ""
                failures.append(str(supervised.failure(f"not ready after {timeout:.0f}s{detail}")))
            raise ProcessError("\n".join(failures))
        if on_wait is not None:
            on_wait(waiting[0][0])
        time.sleep(interval)


def stop_all(
    processes: Iterable[Supervised],
    sig: signal.Signals = signal.SIGTERM,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> None:
    """Stop several process groups with one grace period: ``sig`` to all (in the order
    given), wait up to ``grace`` seconds, then SIGKILL the groups still running.

    A KeyboardInterrupt while waiting (a second Ctrl-C) cuts the grace period short:
    everything is killed, then it propagates.
    """
    running = [p for p in processes if p.alive()]
    for supervised in running:
        supervised.send_signal(sig)
    deadline = time.monotonic() + grace
    interrupted: KeyboardInterrupt | None = None
    try:
        for supervised in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                supervised._started().wait(timeout=max(0.1, deadline - time.monotonic()))
    except KeyboardInterrupt as error:
        interrupted = error
    for supervised in running:
        # The leader may be gone while something it started lives on: kill the group anyway.
        supervised.send_signal(signal.SIGKILL)
        supervised._started().wait()
    if interrupted is not None:
        raise interrupted
