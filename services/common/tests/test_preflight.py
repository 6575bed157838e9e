"""myretail-preflight secrets: against a real HTTP server standing in for the Kubernetes API
(the Secret routes the check reads, bearer-token auth, 403 for Secrets outside its Role)."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Header
from fastapi.responses import JSONResponse

from myretail_common.ports import free_port
from myretail_common.preflight import _in_cluster_server, main
from myretail_testkit.servers import LiveServer

TOKEN = "service-account-token"
NAMESPACE = "shop"
SECRET_VALUE = "do-not-print-me"


def _status(code: int, reason: str, message: str) -> JSONResponse:
    body = {"kind": "Status", "status": "Failure", "reason": reason, "message": message}
    return JSONResponse(body, status_code=code)


class FakeApiServer:
    """Secrets of one namespace, the names its Role may read, and the paths it was asked."""

    def __init__(self, secrets: dict[str, dict[str, str]], readable: set[str] | None = None):
        self.secrets = secrets
        self.readable = readable
        self.asked: list[str] = []
        self.app = FastAPI()
        self.app.get("/healthz")(lambda: {"ok": True})
        self.app.get("/api/v1/namespaces/{namespace}/secrets/{name}")(self.secret)

    def secret(
        self, namespace: str, name: str, authorization: str = Header(default="")
    ) -> JSONResponse:
        self.asked.append(f"{namespace}/{name}")
        if authorization != f"Bearer {TOKEN}":
            return _status(401, "Unauthorized", "Unauthorized")
        if self.readable is not None and name not in self.readable:
            return _status(403, "Forbidden", f'secrets "{name}" is forbidden')
        if namespace != NAMESPACE or name not in self.secrets:
            return _status(404, "NotFound", f'secrets "{name}" not found')
        data = {
            key: base64.b64encode(value.encode()).decode()
            for key, value in self.secrets[name].items()
        }
        return JSONResponse({"kind": "Secret", "metadata": {"name": name}, "data": data})


@pytest.fixture
def api() -> Iterator[tuple[FakeApiServer, LiveServer]]:
    fake = FakeApiServer(
        {
            "myretail-qdrant": {"api-key": SECRET_VALUE},
            "myretail-openai": {"OTHER_KEY": SECRET_VALUE},
        }
    )
    with LiveServer(fake.app) as server:
        yield fake, server


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    return path


def _run(url: str, token_file: Path, *refs: str, attempts: int = 1) -> int:
    return main(
        [
            "secrets",
            "--api-server",
            url,
            "--token-file",
            str(token_file),
            "--namespace",
            NAMESPACE,
            "--attempts",
            str(attempts),
            *refs,
        ]
    )


def test_passes_when_every_secret_holds_its_keys(api, token_file, capsys) -> None:
    fake, server = api
    assert _run(server.url, token_file, "myretail-qdrant:api-key") == 0
    out = capsys.readouterr()
    assert "myretail-qdrant:api-key" in out.out
    assert SECRET_VALUE not in out.out + out.err
    assert fake.asked == [f"{NAMESPACE}/myretail-qdrant"]


def test_names_each_missing_secret_and_key_with_the_command_that_creates_it(
    api, token_file, capsys
) -> None:
    fake, server = api
    refs = [
        "myretail-qdrant:api-key",
        "myretail-openai:OPENAI_API_KEY",
        "myretail-redis:redis-password",
        "store-keys:AWS_ACCESS_KEY_ID",
        "store-keys:AWS_SECRET_ACCESS_KEY",
    ]
    assert _run(server.url, token_file, *refs) == 1
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert lines == [
        "missing key OPENAI_API_KEY in Secret myretail-openai: kubectl -n shop patch secret "
        'myretail-openai --type merge -p \'{"stringData":{"OPENAI_API_KEY":"<value>"}}\'',
        "missing Secret myretail-redis (key redis-password): kubectl -n shop create secret "
        "generic myretail-redis --from-literal=redis-password=<value>",
        "missing Secret store-keys (keys AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY): kubectl -n "
        "shop create secret generic store-keys --from-literal=AWS_ACCESS_KEY_ID=<value> "
        "--from-literal=AWS_SECRET_ACCESS_KEY=<value>",
        "preflight failed: create the missing Secrets in namespace shop (docs/deploy.md lists "
        "them), then run the install or upgrade again",
    ]
    assert "myretail-qdrant" not in out.err, "a complete Secret is not reported"
    assert SECRET_VALUE not in out.out + out.err
    assert sorted(set(fake.asked)) == sorted(
        f"{NAMESPACE}/{name}"
        for name in ("myretail-qdrant", "myretail-openai", "myretail-redis", "store-keys")
    )
    assert len(fake.asked) == 4, "each Secret is read once"


def test_a_refused_token_or_permission_is_not_a_missing_secret(token_file, tmp_path, capsys):
    fake = FakeApiServer({"myretail-qdrant": {"api-key": "x"}}, readable={"myretail-qdrant"})
    with LiveServer(fake.app) as server:
        assert _run(server.url, token_file, "myretail-openai:OPENAI_API_KEY") == 2
        err = capsys.readouterr().err
        assert "not allowed to read /api/v1/namespaces/shop/secrets/myretail-openai (403)" in err
        bad_token = tmp_path / "bad-token"
        bad_token.write_text("expired")
        assert _run(server.url, bad_token, "myretail-qdrant:api-key") == 2
        assert "refused the service account token (401)" in capsys.readouterr().err


def test_an_unreachable_api_server_is_reported(token_file, capsys) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert _run(url, token_file, "myretail-qdrant:api-key", attempts=2) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"preflight could not check the Secrets: the Kubernetes API at {url}")
    assert TOKEN not in err


def test_nothing_to_check_needs_no_api_server(tmp_path, capsys) -> None:
    assert main(["secrets", "--token-file", str(tmp_path / "absent")]) == 0
    assert "nothing to check" in capsys.readouterr().out


def test_a_malformed_reference_is_a_usage_error(capsys) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["secrets", "myretail-qdrant"])
    assert exited.value.code == 2
    assert "write a Secret key as NAME:KEY" in capsys.readouterr().err


def test_in_cluster_address_comes_from_the_pod_environment(monkeypatch) -> None:
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.100.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    assert _in_cluster_server() == "https://10.100.0.1:443"
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "fd00::1")
    assert _in_cluster_server() == "https://[fd00::1]:443"
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert _in_cluster_server() == ""


def test_console_script_runs_the_check(api, token_file) -> None:
    _, server = api
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "myretail_common.preflight",
            "secrets",
            "--api-server",
            server.url,
            "--token-file",
            str(token_file),
            "--namespace",
            NAMESPACE,
            "myretail-huggingface:HUGGING_FACE_HUB_TOKEN",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 1
    assert (
        "kubectl -n shop create secret generic myretail-huggingface "
        "--from-literal=HUGGING_FACE_HUB_TOKEN=<value>" in result.stderr
    )
