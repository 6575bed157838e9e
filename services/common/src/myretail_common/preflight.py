"""``myretail-preflight``: checks a Helm release runs before it installs anything.

``myretail-preflight secrets NAME:KEY ...`` asks the Kubernetes API whether each Secret
exists and holds each key, and exits 0 when all do. Otherwise it prints one line per
missing Secret (or missing key of an existing Secret) with the exact ``kubectl`` command
that creates it, and exits 1; 2 when it could not ask (API server unreachable, no
permission). The chart's pre-install / pre-upgrade hook runs it with the Secret keys the
release references, so a missing one fails the install at once instead of leaving pods in
CreateContainerConfigError.

In a pod it uses the service account token and CA the chart mounts at the standard path and
the API server address Kubernetes puts in every pod's environment (standard library only:
the hook runs before anything else and needs nothing but this package). Secret values are
read by the API call but never printed: only key names are looked at.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
EXIT_MISSING, EXIT_CANNOT_CHECK = 1, 2


class CannotCheckError(Exception):
    """The API server could not be asked (unreachable, refused the token, no permission)."""


@dataclass(frozen=True)
class SecretKey:
    """One key of one Secret, written NAME:KEY on the command line."""

    secret: str
    key: str

    @classmethod
    def parse(cls, text: str) -> SecretKey:
        secret, sep, key = text.partition(":")
        if not (sep and secret and key):
            raise argparse.ArgumentTypeError(f"{text!r}: write a Secret key as NAME:KEY")
        return cls(secret, key)


class KubernetesApi:
    """GET requests to the Kubernetes API with a bearer token (over HTTPS with the cluster's
    CA, or plain HTTP for a local stand-in)."""

    def __init__(
        self, server: str, token: str, ca_file: Path | None = None, attempts: int = 3
    ) -> None:
        if not server.startswith(("https://", "http://")):
            raise CannotCheckError(f"the API server must be an http(s) URL, not {server!r}")
        self.server = server.rstrip("/")
        self.token = token
        self.attempts = max(1, attempts)
        self.ssl_context = (
            ssl.create_default_context(cafile=str(ca_file))
            if ca_file and self.server.startswith("https:")
            else None
        )

    def get(self, path: str) -> dict[str, Any] | None:
        """The JSON object at ``path``, or None when it does not exist (404)."""
        request = urllib.request.Request(  # noqa: S310 - http(s) only, checked in __init__
            self.server + path,
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
        )
        attempt = 1
        while True:
            try:
                with urllib.request.urlopen(  # noqa: S310 - http(s) only, checked in __init__
                    request, timeout=10, context=self.ssl_context
                ) as response:
                    found: dict[str, Any] = json.load(response)
                    return found
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                raise CannotCheckError(_refusal(exc.code, path)) from exc
            except OSError as exc:  # URLError, timeouts, refused connections
                if attempt >= self.attempts:
                    raise CannotCheckError(
                        f"the Kubernetes API at {self.server} did not answer: {exc}"
                    ) from exc
                time.sleep(attempt)
                attempt += 1

    def secret_keys(self, namespace: str, name: str) -> set[str] | None:
        """The key names of a Secret, or None when there is no such Secret."""
        secret = self.get(f"/api/v1/namespaces/{quote(namespace)}/secrets/{quote(name)}")
        if secret is None:
            return None
        return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def _refusal(status: int, path: str) -> str:
    if status == 401:
        return "the Kubernetes API refused the service account token (401)"
    if status == 403:
        return (
            f"not allowed to read {path} (403): the preflight Role grants get on exactly the "
            "Secrets the release references"
        )
    return f"the Kubernetes API answered {status} for {path}"


def missing_secret_lines(api: KubernetesApi, namespace: str, wanted: list[SecretKey]) -> list[str]:
    """One line per missing Secret (all its keys in one create command) or missing key of an
    existing Secret, each with the kubectl command that fixes it."""
    keys_by_secret: dict[str, list[str]] = {}
    for ref in wanted:
        keys = keys_by_secret.setdefault(ref.secret, [])
        if ref.key not in keys:
            keys.append(ref.key)
    lines = []
    for secret, keys in keys_by_secret.items():
        present = api.secret_keys(namespace, secret)
        if present is None:
            literals = " ".join(f"--from-literal={key}=<value>" for key in keys)
            lines.append(
                f"missing Secret {secret} (key{'s' if len(keys) > 1 else ''} {', '.join(keys)}): "
                f"kubectl -n {namespace} create secret generic {secret} {literals}"
            )
            continue
        for key in keys:
            if key not in present:
                patch = json.dumps({"stringData": {key: "<value>"}}, separators=(",", ":"))
                lines.append(
                    f"missing key {key} in Secret {secret}: "
                    f"kubectl -n {namespace} patch secret {secret} --type merge -p '{patch}'"
                )
    return lines


def _in_cluster_server() -> str:
    host = os.environ.get("KUBERNETES_SERVICE_HOST", "")
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if not host:
        return ""
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="myretail-preflight", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    secrets = commands.add_parser("secrets", help="exit 0 if every Secret holds its keys")
    secrets.add_argument("refs", nargs="*", type=SecretKey.parse, metavar="NAME:KEY")
    secrets.add_argument(
        "--namespace", default=None, help="default: the service account's namespace"
    )
    secrets.add_argument(
        "--api-server", default=None, help="API server URL (default: the pod's in-cluster address)"
    )
    secrets.add_argument("--token-file", type=Path, default=SERVICE_ACCOUNT_DIR / "token")
    secrets.add_argument("--ca-file", type=Path, default=SERVICE_ACCOUNT_DIR / "ca.crt")
    secrets.add_argument(
        "--attempts", type=int, default=3, help="tries when the API server does not answer"
    )
    return parser


def _namespace(args: argparse.Namespace) -> str:
    if args.namespace:
        return str(args.namespace)
    try:
        return (SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
    except OSError as exc:
        raise CannotCheckError("no namespace: pass --namespace or run in a pod") from exc


def check_secrets(args: argparse.Namespace) -> int:
    refs: list[SecretKey] = args.refs
    if not refs:
        print("preflight: the release references no Secret of yours; nothing to check")
        return 0
    server = args.api_server or _in_cluster_server()
    if not server:
        raise CannotCheckError("no API server: pass --api-server or run in a pod")
    try:
        token = args.token_file.read_text().strip()
    except OSError as exc:
        raise CannotCheckError(f"no service account token at {args.token_file}") from exc
    namespace = _namespace(args)
    api = KubernetesApi(server, token, args.ca_file, attempts=args.attempts)
    missing = missing_secret_lines(api, namespace, refs)
    if not missing:
        names = ", ".join(f"{ref.secret}:{ref.key}" for ref in refs)
        print(f"preflight: every Secret key the release uses is there ({names})")
        return 0
    for line in missing:
        print(line, file=sys.stderr)
    print(
        f"preflight failed: create the missing Secrets in namespace {namespace} "
        "(docs/deploy.md lists them), then run the install or upgrade again",
        file=sys.stderr,
    )
    return EXIT_MISSING


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return check_secrets(args)
    except CannotCheckError as exc:
        print(f"preflight could not check the Secrets: {exc}", file=sys.stderr)
        return EXIT_CANNOT_CHECK


if __name__ == "__main__":
    sys.exit(main())
