"""Hostile requests against the real RAG API: client input never gets a 5xx, limits hold
before any work, and ``/load_data`` cannot be turned against the cluster (SSRF).

The catalog server is a real HTTP server on loopback; DNS answers come from a resolver
installed in this process (the app runs here too), which is how a rebinding name behaves:
a public address when vetted, an internal one when asked again.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from myretail_rag.catalog.sources import is_internal_address
from myretail_testkit.rag import MINI_ROWS, small_csv
from myretail_testkit.servers import LiveServer


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert "error" in body, body
    return dict(body["error"])


class CatalogHost:
    """A loopback HTTP server serving the mini catalog, and one that drips it byte by byte;
    it records each request's Host header."""

    def __init__(self) -> None:
        self.hosts: list[str] = []

        async def catalog(request: Request) -> Response:
            self.hosts.append(request.headers.get("host", ""))
            return Response(small_csv(MINI_ROWS), media_type="text/csv")

        async def drip(request: Request) -> Response:
            self.hosts.append(request.headers.get("host", ""))

            async def slowly() -> Any:
                for byte in small_csv(MINI_ROWS):
                    yield bytes([byte])
                    await asyncio.sleep(0.2)

            return StreamingResponse(slowly(), media_type="text/csv")

        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok")

        app = Starlette(
            routes=[
                Route("/healthz", healthz),
                Route("/mini.csv", catalog),
                Route("/drip.csv", drip),
            ]
        )
        self.server = LiveServer(app)
        self.port = self.server.port


@pytest.fixture(scope="module")
def catalog_host() -> Iterator[CatalogHost]:
    host = CatalogHost()
    with host.server:
        yield host


@pytest.fixture
def open_loader(settings, store, history, make_client):
    """An app that may load from internal addresses (the catalog host is on loopback)."""
    return make_client(
        settings.model_copy(update={"load_allow_private_addresses": True}), store, history
    )


# -- text no encoder can hold, patterns, limits -------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"prompt": "\\ud800"}',
        b'{"prompt": "shoes", "session_id": "\\udfff"}',
        b'{"prompt": "shoes", "\\ud800": 1}',
    ],
)
def test_lone_surrogates_in_generate_are_a_400(client, body):
    response = client.post("/generate", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["type"] == "invalid_json"


def test_lone_surrogates_in_load_data_are_a_400(client):
    response = client.post(
        "/load_data",
        content=b'{"url": "http://example.com/\\ud800.csv"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    "session_id",
    [
        "0123456789abcdef0123456789abcdef\n",
        "01234567-89ab-cdef-0123-456789abcdef\n",
        "0123456789abcdef0123456789abcdef" + "0" * 5,
    ],
)
def test_a_session_id_must_be_exactly_a_uuid(client, session_id):
    response = client.post("/generate", json={"prompt": "shoes", "session_id": session_id})
    assert response.status_code == 422
    assert "session_id" in error_of(response)["message"]


def test_bodies_over_the_cap_are_a_413_before_parsing(client):
    response = client.post("/generate", json={"prompt": "x" * (1024 * 1024)})
    assert response.status_code == 413
    assert error_of(response)["type"] == "payload_too_large"
    assert "MAX_REQUEST_BYTES" in error_of(response)["message"]


def test_every_string_field_has_a_hard_limit(client):
    schema = client.app.openapi()["components"]["schemas"]
    for name in ("GenerateRequest", "LoadDataRequest"):
        for field, spec in schema[name]["properties"].items():
            text = [spec] if "type" in spec else spec.get("anyOf", [])
            for option in text:
                if option.get("type") == "string":
                    assert "maxLength" in option, (name, field)


# -- URLs that parse but cannot be used ---------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://example.com:99999/catalog.csv", "invalid_source"),
        ("http://example.com:-1/catalog.csv", "invalid_source"),
        ("http://[::1/catalog.csv", "invalid_source"),
        ("http://[not-an-address]/catalog.csv", "invalid_source"),
        ("http://user:pass@example.com/catalog.csv", "source_not_allowed"),
        ("http://example.com@127.0.0.1/catalog.csv", "source_not_allowed"),
        ("http://127.0.0.1\\@example.com/catalog.csv", "source_not_allowed"),
        ("s3://key:secret@bucket/catalog.csv", "source_not_allowed"),
    ],
)
def test_malformed_urls_are_a_clear_4xx(client, url, kind):
    response = client.post("/load_data", json={"url": url})
    assert response.status_code == 400, response.text
    assert error_of(response)["type"] == kind


def test_error_bodies_quote_only_a_short_prefix_of_the_url(client):
    host = "h" * 1500 + ".invalid"
    response = client.post("/load_data", json={"url": f"http://{host}/catalog.csv"})
    assert response.status_code == 400
    assert len(response.text) < 800
    assert host not in response.text


# -- SSRF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
        "[2002:a9fe:a9fe::1]",  # 6to4 of 169.254.169.254 (instance metadata)
        "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
        "[64:ff9b::a9fe:a9fe]",  # NAT64 of 169.254.169.254
        "[64:ff9b:1::1]",  # local-use NAT64
        "[2001:0:a00:1::1]",  # Teredo, server 10.0.0.1
        "[::ffff:10.0.0.1]",  # IPv4-mapped
        "[::10.0.0.1]",  # IPv4-compatible
        "[::127.0.0.1]",
        "[fd00::1]",  # unique local
        "100.64.0.1",  # CGNAT
        "2130706433",  # 127.0.0.1 as one number
        "0177.0.0.1",  # 127.0.0.1 in octal
    ],
)
def test_addresses_that_are_or_embed_an_internal_one_are_refused(client, catalog_host, host):
    seen = len(catalog_host.hosts)
    response = client.post(
        "/load_data", json={"url": f"http://{host}:{catalog_host.port}/mini.csv"}
    )
    assert response.status_code == 400, response.text
    assert error_of(response)["type"] == "source_not_allowed"
    assert "internal address" in error_of(response)["message"]
    assert len(catalog_host.hosts) == seen


@pytest.mark.parametrize("address", ["2002:808:808::1", "64:ff9b::808:808", "8.8.8.8"])
def test_addresses_that_embed_a_public_one_stay_public(address):
    assert not is_internal_address(address)


class RebindingResolver:
    """Answers ``name`` with ``first`` once, then with ``later``: DNS rebinding."""

    def __init__(self, name: str, first: str, later: str) -> None:
        self.name, self.answers, self.asked = name, [first, later], 0
        self.real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host != self.name:
            return self.real(host, port, *args, **kwargs)
        answer = self.answers[min(self.asked, 1)]
        self.asked += 1
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer, int(port or 80)))]


def test_the_vetted_address_is_the_one_connected_to(open_loader, store, catalog_host, monkeypatch):
    """The name resolves once; the connection goes to that address, with the name kept as
    the Host (and TLS server name): a second answer (here: elsewhere) is never asked for."""
    resolver = RebindingResolver("catalog.rebinding.test", "127.0.0.1", "10.255.255.1")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    url = f"http://catalog.rebinding.test:{catalog_host.port}/mini.csv"
    response = open_loader.post("/load_data", json={"url": url})
    assert response.status_code == 200, response.text
    assert store.count() == 4
    assert resolver.asked == 1
    assert catalog_host.hosts[-1] == f"catalog.rebinding.test:{catalog_host.port}"


def test_a_name_that_rebinds_to_loopback_never_reaches_it(
    settings, store, history, make_client, catalog_host, monkeypatch
):
    client = make_client(settings.model_copy(update={"load_timeout_seconds": 2}), store, history)
    # Vetted: a public address (unreachable from here); asked again: loopback.
    resolver = RebindingResolver("catalog.rebinding.test", "93.184.215.14", "127.0.0.1")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    seen = len(catalog_host.hosts)
    url = f"http://catalog.rebinding.test:{catalog_host.port}/mini.csv"
    response = client.post("/load_data", json={"url": url})
    assert response.status_code == 400
    assert error_of(response)["type"] == "source_unreachable"
    assert resolver.asked == 1
    assert len(catalog_host.hosts) == seen  # the loopback server was never asked
    assert store.count() == 1233


# A download that ignored its deadline would take ~100 s: this guard fails the test then;
# the test itself asserts no wall-clock figure.
@pytest.mark.timeout(60)
def test_the_download_has_one_deadline_not_one_per_read(
    settings, store, history, make_client, catalog_host
):
    """The server sends a byte every 0.2 s: no read waits long, the whole takes ~100 s."""
    slow = settings.model_copy(
        update={"load_allow_private_addresses": True, "load_timeout_seconds": 1.5}
    )
    client = make_client(slow, store, history)
    response = client.post(
        "/load_data", json={"url": f"http://127.0.0.1:{catalog_host.port}/drip.csv"}
    )
    assert response.status_code == 400
    assert error_of(response)["type"] == "source_unreachable"
    assert "did not finish within 1.5s (LOAD_TIMEOUT_SECONDS)" in error_of(response)["message"]
    assert store.count() == 1233
