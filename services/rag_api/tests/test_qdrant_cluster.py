"""The catalog on a Qdrant cluster: every collection the RAG API and myretail-catalog create
carries the layout of the settings (QDRANT_SHARD_NUMBER, QDRANT_REPLICATION_FACTOR,
QDRANT_WRITE_CONSISTENCY_FACTOR), loads, portable restores and alias switches work as on one
node, and a native .snapshot, which holds one node's shards, is refused on a cluster.

No Qdrant server, let alone a cluster, can run here: the REST stand-in (QdrantGateway)
records the requests the real client sends, and answers GET /cluster as a single server or
as a peer of a cluster. Its engine is embedded Qdrant, one node, which ignores the layout.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from qdrant_client import QdrantClient

from myretail_rag.catalog.loading import load_products
from myretail_rag.catalog.schema import parse_catalog
from myretail_rag.catalog.snapshots import (
    SnapshotError,
    VerificationError,
    export_products,
    recover_native,
    restore_snapshot,
)
from myretail_rag.catalog.vector_store import CatalogStore, CollectionLayout
from myretail_rag.settings import RagSettings
from myretail_testkit.qdrant_gateway import QdrantGateway
from myretail_testkit.rag import MINI_ROWS, make_settings, small_csv
from myretail_testkit.servers import LiveServer

LAYOUT_ENV = {
    "QDRANT_SHARD_NUMBER": "6",
    "QDRANT_REPLICATION_FACTOR": "2",
    "QDRANT_WRITE_CONSISTENCY_FACTOR": "1",
}
LAYOUT = {"shard_number": 6, "replication_factor": 2, "write_consistency_factor": 1}


@dataclass
class Qdrant:
    """A Qdrant server stand-in on a loopback port, empty at the start."""

    backend: QdrantClient
    gateway: QdrantGateway
    url: str

    def created(self, kind: str) -> list[dict[str, Any]]:
        """Bodies of the create-collection requests for collections named ``*<kind>*``."""
        return [body for name, body in self.gateway.created_collections().items() if kind in name]

    def alias_target(self, alias: str = "catalog") -> str:
        (target,) = [
            a.collection_name for a in self.backend.get_aliases().aliases if a.alias_name == alias
        ]
        return target


@pytest.fixture
def qdrant(tmp_path: Path) -> Iterator[Qdrant]:
    backend = QdrantClient(path=str(tmp_path / "qdrant-server"))
    gateway = QdrantGateway(backend)
    try:
        with LiveServer(gateway.app) as server:
            yield Qdrant(backend, gateway, server.url)
    finally:
        backend.close()


def _layout(body: dict[str, Any]) -> dict[str, Any]:
    return {key: body.get(key) for key in LAYOUT}


def _server_settings(folder: Path, qdrant: Qdrant, **extra: Any) -> RagSettings:
    # The in-process stand-in is slow on a loaded machine: a timeout that does not depend on it.
    return make_settings(folder, qdrant_endpoint=qdrant.url, qdrant_timeout_seconds=120, **extra)


def _cluster_settings(folder: Path, qdrant: Qdrant, **extra: Any) -> RagSettings:
    return _server_settings(
        folder,
        qdrant,
        qdrant_shard_number=6,
        qdrant_replication_factor=2,
        qdrant_write_consistency_factor=1,
        **extra,
    )


# -- settings ---------------------------------------------------------------------------------


def test_the_layout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in LAYOUT_ENV.items():
        monkeypatch.setenv(name, value)
    layout = CollectionLayout.from_settings(RagSettings())
    assert layout == CollectionLayout(**LAYOUT)


def test_by_default_no_layout_is_set() -> None:
    """Today's single-node requests: Qdrant's own defaults apply."""
    settings = RagSettings()
    assert CollectionLayout.from_settings(settings) == CollectionLayout(None, None, None)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (
            {"qdrant_replication_factor": 2, "qdrant_write_consistency_factor": 3},
            "QDRANT_WRITE_CONSISTENCY_FACTOR (3) cannot exceed QDRANT_REPLICATION_FACTOR (2)",
        ),
        ({"qdrant_replication_factor": 0}, "greater than or equal to 1"),
        ({"qdrant_shard_number": 0}, "greater than or equal to 1"),
    ],
)
def test_an_impossible_layout_is_refused(values: dict[str, int], says: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(says)):
        RagSettings(**values)


def test_a_write_consistency_alone_is_left_to_qdrant() -> None:
    """Without a replication factor the server's default applies (the chart sets it on a
    cluster), so only Qdrant can tell whether the write consistency fits."""
    assert RagSettings(qdrant_write_consistency_factor=2).qdrant_write_consistency_factor == 2


# -- requests the client sends ------------------------------------------------------------------


def test_the_rag_api_loads_into_collections_with_the_layout(
    tmp_path: Path, qdrant: Qdrant, make_client, embedding_model
) -> None:
    csv = tmp_path / "mini.csv"
    csv.write_bytes(small_csv(MINI_ROWS))
    settings = _cluster_settings(tmp_path, qdrant, load_allowed_schemes=["file"])
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    client = make_client(settings, store)
    loaded = []
    for _ in range(2):  # a reload: a new collection, then the alias moves to it
        answer = client.post("/load_data", json={"url": csv.as_uri()})
        assert answer.status_code == 200, answer.text
        loaded.append(answer.json()["collection"])
    bodies = qdrant.created("--load-")
    assert len(bodies) == 2 and all(_layout(body) == LAYOUT for body in bodies)
    assert qdrant.alias_target() == loaded[-1]
    assert qdrant.backend.count("catalog").count == 4
    assert loaded[0] not in store.collections()  # the replaced load was dropped
    # The lease's marker collections hold no points: they keep the server's defaults.
    leases = qdrant.created(".lease-")
    assert leases and all(_layout(body) == dict.fromkeys(LAYOUT) for body in leases)


def test_without_a_layout_the_requests_are_those_of_one_node(
    tmp_path: Path, qdrant: Qdrant, embedding_model
) -> None:
    store = CatalogStore.from_settings(_server_settings(tmp_path, qdrant), embedding_model.identity)
    try:
        load_products(parse_catalog(small_csv(MINI_ROWS)), store, embedding_model, source="mini")
    finally:
        store.close()
    (body,) = qdrant.created("--load-")
    assert _layout(body) == dict.fromkeys(LAYOUT)


def test_a_portable_restore_lays_the_catalog_out_over_the_cluster(
    tmp_path: Path, qdrant: Qdrant, embedding_model
) -> None:
    """The supported path onto a cluster (and back): the restore creates its collection with
    the configured layout, fills it through any peer, verifies it and moves the alias."""
    snapshot = tmp_path / "snapshot"
    export_products(
        parse_catalog(small_csv(MINI_ROWS)),
        embedding_model,
        str(snapshot),
        make_settings(tmp_path / "export"),
        source="mini.csv",
    )
    store = CatalogStore.from_settings(
        _cluster_settings(tmp_path, qdrant), embedding_model.identity
    )
    try:
        result = restore_snapshot(store, str(snapshot), _cluster_settings(tmp_path, qdrant))
    finally:
        store.close()
    assert result.points == 4
    (body,) = qdrant.created("--restore-")
    assert _layout(body) == LAYOUT
    assert qdrant.alias_target() == result.collection
    assert qdrant.backend.count("catalog").count == 4


@pytest.mark.parametrize("peers", [1, 3])
def test_a_native_snapshot_is_recovered_only_on_a_single_qdrant(
    tmp_path: Path, qdrant: Qdrant, embedding_model, peers: int
) -> None:
    qdrant.gateway.cluster_peers = peers
    settings = _cluster_settings(tmp_path, qdrant)
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    url = "https://snapshots.example.com/catalog-2026.snapshot"
    try:
        if peers == 1:
            # Sent to Qdrant's recover API (the stand-in cannot unpack the native format).
            with pytest.raises(VerificationError, match="did not create"):
                recover_native(store, url, settings, replace="always")
            assert [path for _, path, _ in qdrant.gateway.requests if "recover" in path]
        else:
            with pytest.raises(SnapshotError, match="cluster of 3 Qdrant peers") as refused:
                recover_native(store, url, settings, replace="always")
            assert "restore a portable snapshot" in str(refused.value)
            assert not [path for _, path, _ in qdrant.gateway.requests if "recover" in path]
            assert store.collections() == []  # nothing taken, nothing created
    finally:
        store.close()
