"""Fixtures: the real embedding model (loaded once), the real catalog in embedded Qdrant
(loaded once, copied per test) and as a portable snapshot (exported once), a real Redis,
and apps built from them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from myretail_rag.api.app import create_app
from myretail_rag.catalog.embeddings import EmbeddingModel, load_embeddings
from myretail_rag.catalog.loading import load_products
from myretail_rag.catalog.schema import Product, parse_catalog
from myretail_rag.catalog.snapshots import export_snapshot
from myretail_rag.catalog.vector_store import CatalogStore
from myretail_rag.conversation.history import HistoryStore, SQLiteHistory
from myretail_rag.settings import RagSettings
from myretail_testkit.rag import make_settings
from myretail_testkit.redis_server import RedisServer

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# As the console scripts do (effective when nothing imported torch before this file).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROOT = Path(__file__).resolve().parents[3]
CATALOG_CSV = ROOT / "data" / "catalog.csv"


@pytest.fixture(autouse=True)
def _keep_logging(restore_logging: None) -> None:
    """Any test here may run a CLI that configures logging for its process."""


@pytest.fixture(scope="session")
def embedding_model() -> EmbeddingModel:
    """all-MiniLM-L6-v2 from the PyPI package, loaded once for the whole session."""
    return load_embeddings(RagSettings(embeddings_provider="local"))


@pytest.fixture(scope="session")
def catalog_products() -> list[Product]:
    return parse_catalog(CATALOG_CSV.read_bytes())


@pytest.fixture(scope="session")
def loaded_catalog_dir(
    tmp_path_factory: pytest.TempPathFactory,
    embedding_model: EmbeddingModel,
    catalog_products: list[Product],
) -> Path:
    """An embedded Qdrant folder holding the whole sample catalog (loaded once)."""
    folder = tmp_path_factory.mktemp("catalog") / "qdrant"
    settings = make_settings(folder.parent, qdrant_path=str(folder))
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        load_products(catalog_products, store, embedding_model, source=str(CATALOG_CSV))
    finally:
        store.close()
    return folder


@pytest.fixture(scope="session")
def exported(
    loaded_catalog_dir: Path, tmp_path_factory: pytest.TempPathFactory, embedding_model
) -> Path:
    """The sample catalog exported once as a portable snapshot folder (beside it:
    ``qdrant``, the embedded Qdrant folder it was exported from)."""
    folder = tmp_path_factory.mktemp("export")
    shutil.copytree(loaded_catalog_dir, folder / "qdrant")
    settings = make_settings(folder)
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        result = export_snapshot(store, str(folder / "snapshot"), settings)
    finally:
        store.close()
    assert result.points == 1233
    return folder / "snapshot"


@pytest.fixture
def catalog_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedding_model: EmbeddingModel
) -> Path:
    """The environment of ``myretail-catalog`` run in this process: embedded Qdrant under
    ``tmp_path`` (returned), quiet logs, and the session's embedding model (same package,
    same weights) instead of a second 860 MB copy."""
    monkeypatch.setenv("QDRANT_PATH", str(tmp_path / "qdrant"))
    monkeypatch.delenv("QDRANT_ENDPOINT", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    monkeypatch.setattr(
        "myretail_rag.catalog.embeddings.load_embeddings", lambda _: embedding_model
    )
    return tmp_path


@pytest.fixture
def settings(tmp_path: Path, loaded_catalog_dir: Path) -> RagSettings:
    """Test settings whose embedded Qdrant folder is a fresh copy of the loaded catalog."""
    shutil.copytree(loaded_catalog_dir, tmp_path / "qdrant")
    return make_settings(tmp_path)


@pytest.fixture
def store(settings: RagSettings, embedding_model: EmbeddingModel) -> Iterator[CatalogStore]:
    catalog = CatalogStore.from_settings(settings, embedding_model.identity)
    yield catalog
    catalog.close()


@pytest.fixture
def history(settings: RagSettings) -> Iterator[HistoryStore]:
    stored = SQLiteHistory(settings.history_url.removeprefix("sqlite:///"), 3600)
    yield stored
    stored.close()


AppFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(
    embedding_model: EmbeddingModel,
) -> Iterator[Callable[..., TestClient]]:
    """Build the real app from parts and return a started TestClient."""
    clients: list[TestClient] = []

    def build(
        settings: RagSettings,
        store: CatalogStore | None = None,
        history: HistoryStore | None = None,
        **parts: Any,
    ) -> TestClient:
        app = create_app(
            settings,
            embeddings=parts.pop("embeddings", embedding_model),
            vector_store=store,
            history=history,
            **parts,
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        clients.append(client)
        return client

    yield build
    for client in reversed(clients):
        client.__exit__(None, None, None)


@pytest.fixture
def client(
    settings: RagSettings,
    store: CatalogStore,
    history: HistoryStore,
    make_client: Callable[..., TestClient],
) -> TestClient:
    return make_client(settings, store, history)


# -- Redis ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A real redis-server from Debian for the session."""
    if RedisServer.binary() is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()
