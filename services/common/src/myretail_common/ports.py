"""Port checks for local runs: a port already in use is a clear error naming its variable."""

from __future__ import annotations

import socket


class PortInUseError(RuntimeError):
    pass


def ensure_port_free(port: int, variable: str, host: str = "127.0.0.1") -> None:
    """Raise :class:`PortInUseError` when something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        if probe.connect_ex((host, port)) == 0:
            raise PortInUseError(
                f"port {port} is already in use on {host}; "
                f"stop what uses it or set {variable} to another port"
            )


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for tests and local stacks)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
