"""A real redis-server (the Debian package) on a free loopback port; nothing persisted."""

from __future__ import annotations

import shutil
from pathlib import Path

from myretail_common.ports import free_port
from myretail_testkit.lifecycle import StartStop
from myretail_testkit.processes import Supervised


class RedisServer(StartStop):
    """``with RedisServer(folder) as server: redis.Redis.from_url(server.url)``."""

    def __init__(self, folder: Path, port: int | None = None) -> None:
        self.folder = folder
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.log_path = folder / "redis-server.log"
        self.process: Supervised | None = None

    @staticmethod
    def binary() -> str | None:
        return shutil.which("redis-server")

    def start(self, timeout: float = 20.0) -> RedisServer:
        import redis

        binary = self.binary()
        if binary is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "no", "--dir", str(self.folder), "--protected-mode", "yes"]
        self.process = Supervised(
            command,
            name="redis-server",
            log_path=self.log_path,
            ports={"RedisServer(port=...)": self.port},
        )
        client = redis.Redis.from_url(self.url, socket_timeout=1)
        self.process.start_ready(client.ping, timeout, interval=0.1)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=10)
        self.process = None
