"""Reading a catalog source safely: ``http(s)://``, ``s3://`` and ``file://`` (or a plain path).

Each scheme is read only when the caller's :class:`SourcePolicy` allows it
(``LOAD_ALLOWED_SCHEMES`` for the API; the CLI reads anything). HTTP hosts that resolve to
private, loopback, link-local or otherwise internal addresses are refused before any
connection unless ``LOAD_ALLOW_PRIVATE_ADDRESSES`` (SSRF), redirects are re-checked hop by
hop, and every source is read up to ``LOAD_MAX_BYTES``. Failures are :class:`SourceError`
subclasses whose messages are safe to show (no credentials).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from myretail_common.storage import Storage, StorageError
from myretail_rag.settings import RagSettings

MAX_REDIRECTS = 3


class SourceError(Exception):
    """The catalog source cannot be used; the message says why (no credentials)."""


class SourceNotAllowedError(SourceError):
    """The policy forbids the source: its scheme, or a host on an internal address."""


class SourceTooLargeError(SourceError):
    """The source is larger than ``LOAD_MAX_BYTES``."""


class SourceUnreachableError(SourceError):
    """The source does not exist, does not answer, or answers with an error."""


@dataclass(frozen=True)
class SourcePolicy:
    """What sources a caller may load from."""

    schemes: frozenset[str]
    allow_private: bool
    max_bytes: int
    timeout_seconds: float

    @classmethod
    def for_api(cls, settings: RagSettings) -> SourcePolicy:
        return cls(
            frozenset(settings.load_allowed_schemes),
            settings.load_allow_private_addresses,
            settings.load_max_bytes,
            settings.load_timeout_seconds,
        )

    @classmethod
    def for_cli(cls, settings: RagSettings) -> SourcePolicy:
        """The operator's CLI: every scheme, internal hosts included."""
        return cls(
            frozenset({"http", "https", "s3", "file"}),
            True,
            settings.load_max_bytes,
            settings.load_timeout_seconds,
        )


def describe_source(url: str) -> str:
    """The URL without credentials or query string (for logs and metadata)."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def is_internal_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def check_host(host: str | None, port: int, policy: SourcePolicy) -> None:
    """Refuse hosts on internal addresses (resolving names first) unless allowed."""
    if not host:
        raise SourceNotAllowedError("the catalog URL has no host")
    if policy.allow_private:
        return
    try:
        addresses = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            raise SourceUnreachableError(f"cannot resolve host {host!r}") from exc
        addresses = [ipaddress.ip_address(str(info[4][0])) for info in infos]
    for address in addresses:
        if is_internal_address(str(address)):
            raise SourceNotAllowedError(
                f"host {host!r} is on an internal address ({address}); catalog URLs must be "
                "public (set LOAD_ALLOW_PRIVATE_ADDRESSES=true to allow internal hosts)"
            )


def read_source(url: str, policy: SourcePolicy, settings: RagSettings) -> bytes:
    """The bytes of a catalog source, within the policy."""
    url = url.strip()
    if not url:
        raise SourceError("the catalog URL is empty")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and url[1:3] == ":\\"):
        if "file" not in policy.schemes:
            raise SourceNotAllowedError(
                "local files are not allowed here; allowed sources: "
                + ", ".join(sorted(policy.schemes))
            )
        return _read_file(parts.path if scheme == "file" else url, policy)
    if scheme not in policy.schemes:
        raise SourceNotAllowedError(
            f"URL scheme {scheme!r} is not allowed; allowed: {', '.join(sorted(policy.schemes))}"
        )
    if scheme in ("http", "https"):
        return _read_http(url, policy)
    if scheme == "s3":
        return _read_s3(url, policy, settings)
    raise SourceNotAllowedError(f"URL scheme {scheme!r} is not supported")


def _read_file(path_text: str, policy: SourcePolicy) -> bytes:
    path = Path(path_text).expanduser()
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise SourceError(f"{path} is not a file")
        if size > policy.max_bytes:
            raise SourceTooLargeError(
                f"{path} is {size} bytes; the limit is {policy.max_bytes} (LOAD_MAX_BYTES)"
            )
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise SourceUnreachableError(f"{path} does not exist") from exc
    except PermissionError as exc:
        raise SourceUnreachableError(f"{path} cannot be read (permission denied)") from exc


def _read_http(url: str, policy: SourcePolicy) -> bytes:
    shown = describe_source(url)
    current = url
    with httpx.Client(
        follow_redirects=False, timeout=policy.timeout_seconds, trust_env=False
    ) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parts = urlsplit(current)
            if parts.scheme not in ("http", "https") or parts.scheme not in policy.schemes:
                raise SourceNotAllowedError(f"{shown} redirects to a scheme that is not allowed")
            check_host(
                parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), policy
            )
            try:
                with client.stream("GET", current) as response:
                    if response.is_redirect and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code != 200:
                        raise SourceUnreachableError(
                            f"{shown} answered HTTP {response.status_code}"
                        )
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > policy.max_bytes:
                        raise SourceTooLargeError(
                            f"{shown} is {declared} bytes; the limit is {policy.max_bytes} "
                            "(LOAD_MAX_BYTES)"
                        )
                    return b"".join(_limited(response.iter_bytes(), policy.max_bytes, shown))
            except httpx.TimeoutException as exc:
                raise SourceUnreachableError(
                    f"{shown} did not answer within {policy.timeout_seconds:g}s"
                ) from exc
            except httpx.HTTPError as exc:
                raise SourceUnreachableError(
                    f"could not fetch {shown}: {type(exc).__name__}"
                ) from exc
    raise SourceUnreachableError(f"{shown} redirects more than {MAX_REDIRECTS} times")


def _limited(chunks: Iterator[bytes], limit: int, shown: str) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise SourceTooLargeError(
                f"{shown} is larger than the limit of {limit} bytes (LOAD_MAX_BYTES)"
            )
        yield chunk


def _read_s3(url: str, policy: SourcePolicy, settings: RagSettings) -> bytes:
    parent, _, name = url.rstrip("/").rpartition("/")
    if not name or parent in ("s3:", "s3:/"):
        raise SourceError(f"{describe_source(url)} names no object")
    try:
        storage = Storage(parent, **settings.storage_options())
        size = storage.fs.size(url)
        if size is not None and size > policy.max_bytes:
            raise SourceTooLargeError(
                f"{describe_source(url)} is {size} bytes; the limit is {policy.max_bytes} "
                "(LOAD_MAX_BYTES)"
            )
        return storage.read_bytes(name)
    except SourceError:
        raise
    except FileNotFoundError as exc:
        raise SourceUnreachableError(f"{describe_source(url)} does not exist") from exc
    except (StorageError, OSError) as exc:
        raise SourceUnreachableError(f"could not read {describe_source(url)}: {exc}") from exc
    except Exception as exc:  # botocore raises its own types
        raise SourceUnreachableError(
            f"could not read {describe_source(url)}: {type(exc).__name__}"
        ) from exc
