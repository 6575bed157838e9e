"""Reading a catalog source safely: ``http(s)://``, ``s3://`` and ``file://`` (or a plain path).

Each scheme is read only when the caller's :class:`SourcePolicy` allows it
(``LOAD_ALLOWED_SCHEMES`` for the API; the CLI reads anything). Against SSRF, an HTTP host
is resolved once, and every address it resolves to must be public unless
``LOAD_ALLOW_PRIVATE_ADDRESSES`` (private, loopback, link-local, CGNAT, reserved; an IPv6
address that embeds an IPv4 one, as IPv4-mapped, IPv4-compatible, 6to4, Teredo and NAT64
addresses do, is judged by the embedded address too). The connection then goes to that
vetted address, with the host name kept for ``Host`` and TLS (SNI and the certificate
check), so a second DNS answer cannot send it elsewhere (rebinding). URLs with credentials
(``user@host``) are refused, redirects are re-checked hop by hop, the whole download has
one deadline (``LOAD_TIMEOUT_SECONDS``, not per read) and every source is read up to
``LOAD_MAX_BYTES``. Failures are :class:`SourceError` subclasses whose messages are safe to
show (no credentials, at most a short prefix of what the client sent).
"""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit, urlunsplit

import httpx

from myretail_common.quoting import client_text
from myretail_common.storage import Storage, StorageError
from myretail_rag.settings import RagSettings

MAX_REDIRECTS = 3
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# IPv6 ranges whose last 32 bits are an IPv4 address (RFC 6052 NAT64, RFC 4291 compatible).
_LAST_32_BITS_IPV4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::/96"),
)
# Local-use NAT64 (RFC 8215): translates into the operator's own networks, never public.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


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
    """The URL without credentials or query string (for logs and metadata); never raises."""
    try:
        parts = urlsplit(url)
        if not parts.scheme:
            return url
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return f"an invalid URL ({client_text(url)})"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def parse_url(url: str) -> SplitResult:
    """The parts of a catalog URL, or :class:`SourceError` for one that parses but cannot
    be used: a port out of range, a broken IPv6 literal, credentials (``user@host``)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises for a port out of range
    except ValueError as exc:
        raise SourceError(f"{client_text(url)} is not a valid URL: {exc}") from exc
    if "@" in parts.netloc or "\\" in parts.netloc:
        raise SourceNotAllowedError(
            "catalog URLs may not carry credentials or '@' before the host; "
            "give the host alone (s3:// sources use the service's credentials)"
        )
    return parts


def embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries: IPv4-mapped, IPv4-compatible, 6to4,
    Teredo (server and client) and NAT64 (64:ff9b::/96)."""
    found = [address for address in (ip.ipv4_mapped, ip.sixtofour) if address is not None]
    if ip.teredo is not None:
        found.extend(ip.teredo)
    if any(ip in network for network in _LAST_32_BITS_IPV4):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return found


def _is_internal(ip: IPAddress) -> bool:
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or not ip.is_global
    )


def is_internal_address(address: str) -> bool:
    """Whether an address is anything but public; an IPv6 address that embeds IPv4 ones is
    judged by them."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _LOCAL_NAT64:
            return True
        embedded = embedded_ipv4(ip)
        if embedded:  # the address a translator or tunnel delivers to decides
            return any(_is_internal(inner) for inner in embedded)
    return _is_internal(ip)


def vetted_address(host: str | None, port: int, policy: SourcePolicy) -> IPAddress:
    """The one address to connect to for ``host``: resolved once here; every address the
    name resolves to must be public unless the policy allows internal ones."""
    if not host:
        raise SourceNotAllowedError("the catalog URL has no host")
    try:
        addresses: list[IPAddress] = [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError, ValueError) as exc:
            raise SourceUnreachableError(f"cannot resolve host {client_text(host)}") from exc
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise SourceUnreachableError(f"cannot resolve host {client_text(host)}")
    if not policy.allow_private:
        for address in addresses:
            if is_internal_address(str(address)):
                raise SourceNotAllowedError(
                    f"host {client_text(host)} is on an internal address ({address}); catalog "
                    "URLs must be public (set LOAD_ALLOW_PRIVATE_ADDRESSES=true to allow "
                    "internal hosts)"
                )
    return addresses[0]


def read_source(url: str, policy: SourcePolicy, settings: RagSettings) -> bytes:
    """The bytes of a catalog source, within the policy."""
    url = url.strip()
    if not url:
        raise SourceError("the catalog URL is empty")
    parts = parse_url(url)
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
    deadline = time.monotonic() + policy.timeout_seconds
    current = url
    with httpx.Client(follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            parts = parse_url(current)
            if parts.scheme not in ("http", "https") or parts.scheme not in policy.schemes:
                raise SourceNotAllowedError(f"{shown} redirects to a scheme that is not allowed")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            address = vetted_address(parts.hostname, port, policy)
            try:
                with _get_pinned(client, parts, address, port, deadline) as response:
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
                    chunks = _limited(response.iter_bytes(), policy, shown, deadline)
                    return b"".join(chunks)
            except httpx.TimeoutException as exc:
                raise _too_slow(shown, policy) from exc
            except httpx.HTTPError as exc:
                raise SourceUnreachableError(
                    f"could not fetch {shown}: {type(exc).__name__}"
                ) from exc
    raise SourceUnreachableError(f"{shown} redirects more than {MAX_REDIRECTS} times")


def _get_pinned(
    client: httpx.Client, parts: SplitResult, address: IPAddress, port: int, deadline: float
) -> Any:
    """A streamed GET to the vetted ``address``: the URL names the address (no second DNS
    resolution), ``Host`` and the TLS server name stay the URL's host."""
    host = f"[{address}]" if address.version == 6 else str(address)
    pinned = urlunsplit((parts.scheme, f"{host}:{port}", parts.path or "/", parts.query, ""))
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise httpx.ReadTimeout("the download deadline passed")
    assert parts.hostname is not None  # vetted_address refused a URL without a host
    return client.stream(
        "GET",
        pinned,
        headers={"Host": parts.netloc},
        extensions={"sni_hostname": parts.hostname},
        timeout=remaining,
    )


def _too_slow(shown: str, policy: SourcePolicy) -> SourceUnreachableError:
    return SourceUnreachableError(
        f"{shown} did not finish within {policy.timeout_seconds:g}s (LOAD_TIMEOUT_SECONDS)"
    )


def _limited(
    chunks: Iterator[bytes], policy: SourcePolicy, shown: str, deadline: float
) -> Iterator[bytes]:
    """The chunks, up to the size limit and the overall deadline (a server that sends a
    byte now and then never trips a per-read timeout, but trips this)."""
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > policy.max_bytes:
            raise SourceTooLargeError(
                f"{shown} is larger than the limit of {policy.max_bytes} bytes (LOAD_MAX_BYTES)"
            )
        if time.monotonic() > deadline:
            raise _too_slow(shown, policy)
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
