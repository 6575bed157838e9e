"""POST /load_data: safe sources, whole-or-nothing loads, the admin token."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from langchain_core.embeddings import Embeddings
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from myretail_common.ports import free_port
from myretail_rag.catalog.embeddings import EmbeddingModel
from myretail_testkit.rag import BOOK_QUESTION, MINI_ROWS, small_csv
from myretail_testkit.servers import LiveServer


class CatalogServer:
    """A real HTTP server on loopback serving catalog files (and recording requests)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []

        async def serve(request: Request) -> Response:
            path = request.path_params["path"]
            self.requests.append(path)
            if path.startswith("redirect-to/"):
                return RedirectResponse(path.removeprefix("redirect-to/"), status_code=302)
            if path == "loop":
                return RedirectResponse("/loop", status_code=302)
            if path in self.files:
                return Response(self.files[path], media_type="text/csv")
            return PlainTextResponse("not found", status_code=404)

        async def healthz(_: Request) -> Response:
            return PlainTextResponse("ok")

        app = Starlette(routes=[Route("/healthz", healthz), Route("/{path:path}", serve)])
        self.server = LiveServer(app)
        self.url = self.server.url


@pytest.fixture(scope="module")
def catalog_server() -> Iterator[CatalogServer]:
    server = CatalogServer()
    server.server.start()
    yield server
    server.server.stop()


@pytest.fixture
def loader(settings, store, history, make_client):
    """An app that may load from loopback URLs (the catalog server lives there)."""
    local = settings.model_copy(update={"load_allow_private_addresses": True})
    return make_client(local, store, history)


def error_of(response) -> dict:
    return response.json()["error"]


def test_loading_replaces_the_catalog_and_reloading_never_duplicates(loader, store, catalog_server):
    catalog_server.files["mini.csv"] = small_csv(MINI_ROWS)
    response = loader.post("/load_data", json={"url": f"{catalog_server.url}/mini.csv"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["products"] == 4 and body["status"] == "loaded"
    assert store.count() == 4
    first = body["collection"]

    answer = loader.post("/generate", json={"prompt": BOOK_QUESTION}).json()
    assert answer["sources"][0]["product_id"] == "T-1"

    # Same products again, one price changed: updated in place of, never beside, the old.
    changed = [MINI_ROWS[0].replace("79.99", "59.99"), *MINI_ROWS[1:]]
    catalog_server.files["mini.csv"] = small_csv(changed)
    again = loader.post("/load_data", json={"url": f"{catalog_server.url}/mini.csv"})
    assert again.status_code == 200
    assert store.count() == 4
    answer = loader.post("/generate", json={"prompt": BOOK_QUESTION}).json()
    assert answer["sources"][0]["price"] == 59.99
    # The previous collection is gone; only the live one remains.
    assert store.collections() == [again.json()["collection"]]
    assert first not in store.collections()


def test_an_invalid_csv_loads_nothing_and_keeps_the_catalog(loader, store, catalog_server):
    catalog_server.files["bad.csv"] = small_csv([MINI_ROWS[0], MINI_ROWS[1].replace("64.50", "?")])
    before = store.collections()
    response = loader.post("/load_data", json={"url": f"{catalog_server.url}/bad.csv"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["type"] == "invalid_catalog"
    assert "row 3: price is not a number" in error["message"]
    assert store.count() == 1233
    assert store.collections() == before


def test_a_failure_midway_leaves_nothing_half_loaded(
    settings, store, history, make_client, embedding_model, catalog_server
):
    class FailingSecondBatch(Embeddings):
        """The real model, crashing on its second batch."""

        calls = 0

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            FailingSecondBatch.calls += 1
            if FailingSecondBatch.calls == 2:
                raise RuntimeError("the embedding model crashed")
            return embedding_model.embeddings.embed_documents(texts)

        def embed_query(self, text: str) -> list[float]:
            return embedding_model.embeddings.embed_query(text)

    failing = EmbeddingModel(FailingSecondBatch(), embedding_model.identity)
    local = settings.model_copy(update={"load_allow_private_addresses": True, "load_batch_size": 2})
    client = make_client(local, store, history, embeddings=failing)
    catalog_server.files["mini.csv"] = small_csv(MINI_ROWS)
    before = store.collections()
    response = client.post("/load_data", json={"url": f"{catalog_server.url}/mini.csv"})
    assert response.status_code == 503
    assert "the embedding model crashed" in error_of(response)["message"]
    assert store.count() == 1233
    assert store.collections() == before


@pytest.mark.parametrize(
    ("path", "status", "kind", "fragment"),
    [
        ("missing.csv", 400, "source_unreachable", "answered HTTP 404"),
        ("loop", 400, "source_unreachable", "redirects more than 3 times"),
        ("redirect-to/file:///etc/passwd", 400, "source_not_allowed", "scheme that is not allowed"),
    ],
)
def test_bad_urls(loader, catalog_server, path, status, kind, fragment):
    response = loader.post("/load_data", json={"url": f"{catalog_server.url}/{path}"})
    assert response.status_code == status
    assert error_of(response)["type"] == kind
    assert fragment in error_of(response)["message"]


def test_an_unreachable_url_is_a_clear_error(loader):
    url = f"http://127.0.0.1:{free_port()}/catalog.csv"
    response = loader.post("/load_data", json={"url": url})
    assert response.status_code == 400
    assert error_of(response)["type"] == "source_unreachable"
    assert "could not fetch" in error_of(response)["message"]


def test_an_oversized_catalog_is_refused(settings, store, history, make_client, catalog_server):
    small = settings.model_copy(
        update={"load_allow_private_addresses": True, "load_max_bytes": 300}
    )
    client = make_client(small, store, history)
    catalog_server.files["mini.csv"] = small_csv(MINI_ROWS)
    response = client.post("/load_data", json={"url": f"{catalog_server.url}/mini.csv"})
    assert response.status_code == 413
    assert "LOAD_MAX_BYTES" in error_of(response)["message"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}/mini.csv",
        "http://localhost:{port}/mini.csv",
        "http://[::1]:{port}/mini.csv",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/catalog.csv",
        "http://192.168.0.10/catalog.csv",
        "http://0.0.0.0:{port}/mini.csv",
        "http://[::ffff:127.0.0.1]:{port}/mini.csv",
    ],
)
def test_internal_addresses_are_refused_before_any_connection(client, catalog_server, url):
    port = catalog_server.url.rsplit(":", 1)[1]
    seen = len(catalog_server.requests)
    response = client.post("/load_data", json={"url": url.format(port=port)})
    assert response.status_code == 400
    assert error_of(response)["type"] == "source_not_allowed"
    assert "internal address" in error_of(response)["message"]
    assert len(catalog_server.requests) == seen  # nothing was fetched


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "/etc/passwd", "ftp://example.com/c.csv", "gopher://x/"]
)
def test_only_configured_schemes_are_accepted(client, url):
    response = client.post("/load_data", json={"url": url})
    assert response.status_code == 400
    assert error_of(response)["type"] == "source_not_allowed"


def test_the_admin_token_is_required_when_configured(
    settings, store, history, make_client, catalog_server
):
    secured = settings.model_copy(
        update={
            "admin_token": SecretStr("s3cret-admin-token-0123456789abcdef"),
            "load_allow_private_addresses": True,
        }
    )
    client = make_client(secured, store, history)
    url = {"url": f"{catalog_server.url}/mini.csv"}
    catalog_server.files["mini.csv"] = small_csv(MINI_ROWS)
    missing = client.post("/load_data", json=url)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.post("/load_data", json=url, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert "s3cret" not in wrong.text
    right = client.post(
        "/load_data",
        json=url,
        headers={"Authorization": "Bearer s3cret-admin-token-0123456789abcdef"},
    )
    assert right.status_code == 200
    # /generate stays open
    assert client.post("/generate", json={"prompt": "shoes"}).status_code == 200


def test_catalogs_are_read_from_s3(settings, seaweedfs, s3_bucket):
    from myretail_rag.catalog.sources import SourcePolicy, SourceUnreachableError, read_source

    seaweedfs.client().put_object(Bucket=s3_bucket, Key="feeds/mini.csv", Body=small_csv(MINI_ROWS))
    s3 = settings.model_copy(
        update={
            "s3_endpoint_url": seaweedfs.endpoint_url,
            "aws_access_key_id": SecretStr(seaweedfs.access_key),
            "aws_secret_access_key": SecretStr(seaweedfs.secret_key),
        }
    )
    policy = SourcePolicy.for_api(s3)
    assert read_source(f"s3://{s3_bucket}/feeds/mini.csv", policy, s3) == small_csv(MINI_ROWS)
    with pytest.raises(SourceUnreachableError, match="does not exist"):
        read_source(f"s3://{s3_bucket}/feeds/missing.csv", policy, s3)
