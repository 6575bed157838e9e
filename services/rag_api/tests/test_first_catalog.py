"""Day 0: the first catalog of an install.

The RAG API is ready with an empty catalog and notices the catalog when it arrives (a
load through the API, or a restore by another process against the same Qdrant server);
``myretail-catalog export --from-csv`` makes the first snapshot with no Qdrant at all;
the naming rule (``.snapshot``: native file, anything else: portable folder) is enforced;
``restore --if-missing skip`` turns a missing snapshot into a message, never other errors.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from myretail_common.ports import free_port
from myretail_rag.catalog.cli import main as catalog_main
from myretail_rag.catalog.loading import load_products
from myretail_rag.catalog.schema import parse_catalog
from myretail_rag.catalog.snapshots import MANIFEST, is_native_snapshot
from myretail_rag.catalog.vector_store import CatalogStore
from myretail_rag.understanding.search import CatalogSearch
from myretail_testkit.qdrant_gateway import QdrantGateway
from myretail_testkit.rag import (
    BOOK_QUESTION,
    MINI_ROWS,
    make_settings,
    metric_value,
    s3_environment,
    search_results,
    small_csv,
)
from myretail_testkit.servers import LiveServer

ROOT = Path(__file__).resolve().parents[3]
CATALOG_CSV = ROOT / "data" / "catalog.csv"
EMPTY = "empty: it is being restored or loaded"
SKIPPED = (
    "no catalog snapshot at {uri}: the catalog stays as it is (empty on a first install); "
    "load one with POST /load_data or restore later\n"
)


def restored_store(folder: Path, snapshot: str, embedding_model, **settings) -> CatalogStore:
    """A fresh embedded Qdrant under ``folder`` with ``snapshot`` restored by the CLI."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QDRANT_PATH", str(folder / "qdrant"))
        assert catalog_main(["restore", "--from", snapshot]) == 0
    return CatalogStore.from_settings(make_settings(folder, **settings), embedding_model.identity)


# -- the API with an empty catalog ------------------------------------------------------------


def test_a_catalog_loaded_later_is_picked_up_without_a_restart(
    tmp_path, embedding_model, make_client
):
    csv = tmp_path / "mini.csv"
    csv.write_bytes(small_csv(MINI_ROWS))
    settings = make_settings(tmp_path, load_allowed_schemes=["file"])
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        client = make_client(settings, store)
        assert client.get("/readyz").json()["checks"]["catalog"] == EMPTY
        assert client.post("/generate", json={"prompt": BOOK_QUESTION}).status_code == 503

        loaded = client.post("/load_data", json={"url": f"file://{csv}"})
        assert loaded.status_code == 200, loaded.text
        metrics = client.get("/metrics").text  # the load updates the gauges at once
        assert metric_value(metrics, "rag_catalog_products") == 4
        assert metric_value(metrics, "rag_catalog_loaded_timestamp_seconds") > 0
        ready = client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["checks"]["catalog"] == "4 products"
        answer = client.post("/generate", json={"prompt": BOOK_QUESTION})
        assert answer.status_code == 200
        assert answer.json()["sources"][0]["product_id"] == "T-1"
    finally:
        store.close()


def test_a_restore_by_another_process_is_picked_up(
    tmp_path, exported, embedding_model, history, make_client, monkeypatch
):
    """Server mode, as in the cluster: the API and the restore Job share one Qdrant."""
    backend = QdrantClient(path=str(tmp_path / "server"))
    gateway = QdrantGateway(backend)
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    settings = make_settings(tmp_path, qdrant_endpoint=endpoint)
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        with LiveServer(gateway.app, port=port):
            client = make_client(settings, store, history)
            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["vector_store"] == "ok"
            assert ready.json()["checks"]["catalog"] == EMPTY
            empty = client.post("/generate", json={"prompt": BOOK_QUESTION})
            assert empty.status_code == 503
            assert empty.json()["error"]["message"] == f"catalog is {EMPTY}"
            assert metric_value(client.get("/metrics").text, "rag_catalog_products") == 0

            # The restore Job: another Qdrant client, as the console script runs it.
            monkeypatch.setenv("QDRANT_ENDPOINT", endpoint)
            monkeypatch.setenv("LOG_LEVEL", "WARNING")
            # The in-process REST stand-in is far slower than a Qdrant server on a loaded
            # machine: its writes get a timeout that does not depend on the load.
            monkeypatch.setenv("QDRANT_TIMEOUT_SECONDS", "120")
            assert catalog_main(["restore", "--from", str(exported)]) == 0

            ready = client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["catalog"] == "1233 products"
            metrics = client.get("/metrics").text
            assert metric_value(metrics, "rag_catalog_products") == 1233
            assert metric_value(metrics, "rag_catalog_loaded_timestamp_seconds") > 0
            answer = client.post("/generate", json={"prompt": BOOK_QUESTION})
            assert answer.status_code == 200 and len(answer.json()["sources"]) == 5
    finally:
        store.close()
        backend.close()


def test_qdrant_down_stays_not_ready(tmp_path, embedding_model, history, make_client):
    endpoint = f"http://127.0.0.1:{free_port()}"
    settings = make_settings(tmp_path, qdrant_endpoint=endpoint, qdrant_timeout_seconds=2)
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        client = make_client(settings, store, history)
        ready = client.get("/readyz")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert f"Qdrant at {endpoint}" in checks["vector_store"]
        assert checks["catalog"] == "unknown: see vector_store"
    finally:
        store.close()


# -- export --from-csv ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def csv_snapshot(tmp_path_factory, embedding_model) -> Iterator[tuple[Path, str, str]]:
    """``myretail-catalog export --from-csv data/catalog.csv --to file://…/catalog/latest``
    with QDRANT_ENDPOINT pointing at a closed port: no Qdrant is needed."""
    folder = tmp_path_factory.mktemp("from-csv")
    uri = f"file://{folder}/catalog/latest"
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # the CLI configures logging
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("QDRANT_ENDPOINT", f"http://127.0.0.1:{free_port()}")
            patch.setenv("LOG_LEVEL", "WARNING")
            patch.setattr(
                "myretail_rag.catalog.embeddings.load_embeddings", lambda _: embedding_model
            )
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = catalog_main(["export", "--from-csv", str(CATALOG_CSV), "--to", uri])
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert code == 0, err.getvalue()
    yield folder / "catalog" / "latest", out.getvalue(), err.getvalue()


def test_export_from_csv_needs_no_qdrant_and_reports_progress(csv_snapshot):
    snapshot, out, err = csv_snapshot
    assert out.startswith(f"exported 1233 points to file://{snapshot} in ")
    assert "validated 1233 products from" in err
    assert "embedded 1233/1233 products (100%" in err
    assert "exported 1233/1233 points (100%" in err
    manifest = json.loads((snapshot / MANIFEST).read_text())
    assert manifest["points"] == 1233
    assert manifest["source"].endswith("data/catalog.csv")
    assert manifest["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_export_from_csv_then_restore_answers_like_a_load(
    csv_snapshot, store, tmp_path, embedding_model
):
    snapshot, _, _ = csv_snapshot
    loaded = search_results(CatalogSearch(store, embedding_model))
    restored = restored_store(tmp_path / "restored", f"file://{snapshot}", embedding_model)
    try:
        assert restored.count() == 1233
        assert search_results(CatalogSearch(restored, embedding_model)) == loaded
    finally:
        restored.close()


def test_export_from_csv_to_s3_then_restore(
    catalog_env, monkeypatch, tmp_path, embedding_model, seaweedfs, s3_bucket, capsys
):
    for name, value in s3_environment(seaweedfs).items():
        monkeypatch.setenv(name, value)
    csv = tmp_path / "mini.csv"
    csv.write_bytes(small_csv(MINI_ROWS))
    uri = f"s3://{s3_bucket}/catalog/latest"
    assert catalog_main(["export", "--from-csv", str(csv), "--to", uri]) == 0
    assert f"exported 4 points to {uri}" in capsys.readouterr().out
    listing = seaweedfs.client().list_objects_v2(Bucket=s3_bucket)
    keys = [item["Key"] for item in listing["Contents"]]
    assert sorted(keys) == ["catalog/latest/manifest.json", "catalog/latest/points-00000.jsonl.gz"]

    # The same CSV loaded directly answers exactly like the restored snapshot.
    direct_settings = make_settings(tmp_path / "direct")
    direct = CatalogStore.from_settings(direct_settings, embedding_model.identity)
    try:
        load_products(parse_catalog(csv.read_bytes()), direct, embedding_model, source=str(csv))
        loaded = search_results(CatalogSearch(direct, embedding_model))
    finally:
        direct.close()
    restored = restored_store(tmp_path / "restored", uri, embedding_model)
    try:
        assert restored.count() == 4
        assert search_results(CatalogSearch(restored, embedding_model)) == loaded
    finally:
        restored.close()


# -- the naming rule --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "native"),
    [
        ("s3://bucket/catalog/latest", False),
        ("file:///store/catalog/latest", False),
        ("/store/catalog/latest/", False),
        ("s3://bucket/snapshots/catalog-2026-11-24", False),
        ("s3://bucket/catalog.snapshot", True),
        ("file:///store/catalog/catalog.snapshot", True),
        ("/var/snapshots/catalog.snapshot", True),
        ("https://host/catalog.snapshot?X-Amz-Signature=abc", True),
    ],
)
def test_restore_reads_by_the_naming_rule(uri, native):
    assert is_native_snapshot(uri) is native


def test_a_portable_export_to_a_snapshot_uri_is_refused(catalog_env, tmp_path, capsys):
    target = tmp_path / "store" / "catalog" / "latest.snapshot"
    assert catalog_main(["export", "--to", f"file://{target}"]) == 2
    err = capsys.readouterr().err
    assert "ends in .snapshot, which names a native Qdrant snapshot file" in err
    assert f"for example file://{target.parent}/latest)" in err
    # Refused before anything is read or embedded (the CSV does not even exist).
    missing_csv = str(tmp_path / "nothing.csv")
    assert catalog_main(["export", "--from-csv", missing_csv, "--to", str(target)]) == 2
    err = capsys.readouterr().err
    assert "names a native Qdrant snapshot file" in err and "nothing.csv" not in err
    assert not (tmp_path / "store").exists()
    assert not (tmp_path / "qdrant").exists()


# -- restore --if-missing ---------------------------------------------------------------------


def test_a_missing_snapshot_is_skipped_with_a_message_when_asked(
    catalog_env, tmp_path, embedding_model, capsys
):
    csv = tmp_path / "mini.csv"
    csv.write_bytes(small_csv(MINI_ROWS))
    assert catalog_main(["load", str(csv)]) == 0
    capsys.readouterr()
    missing = f"file://{tmp_path}/store/catalog/latest"

    assert catalog_main(["restore", "--from", missing, "--if-missing", "skip"]) == 0
    assert capsys.readouterr().out == SKIPPED.format(uri=missing)
    # Without the flag (or with --if-missing fail) it is an error.
    assert catalog_main(["restore", "--from", missing]) == 2
    assert "no portable snapshot at" in capsys.readouterr().err
    assert catalog_main(["restore", "--from", missing, "--if-missing", "fail"]) == 2
    # The catalog stays as it was.
    store = CatalogStore.from_settings(make_settings(tmp_path), embedding_model.identity)
    try:
        assert store.count() == 4
    finally:
        store.close()


def test_a_missing_snapshot_on_s3_is_skipped(
    catalog_env, monkeypatch, seaweedfs, s3_bucket, capsys
):
    for name, value in s3_environment(seaweedfs).items():
        monkeypatch.setenv(name, value)
    uri = f"s3://{s3_bucket}/catalog/latest"
    assert catalog_main(["restore", "--from", uri, "--if-missing", "skip"]) == 0
    assert capsys.readouterr().out == SKIPPED.format(uri=uri)
    assert catalog_main(["restore", "--from", uri]) == 2


def test_a_missing_native_snapshot_is_skipped(tmp_path, seaweedfs, s3_bucket, monkeypatch, capsys):
    """Native snapshots need a Qdrant server (here the REST stand-in)."""
    backend = QdrantClient(path=str(tmp_path / "server"))
    port = free_port()
    monkeypatch.setenv("QDRANT_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    for name, value in s3_environment(seaweedfs).items():
        monkeypatch.setenv(name, value)
    try:
        with LiveServer(QdrantGateway(backend).app, port=port):
            for uri in (f"s3://{s3_bucket}/catalog.snapshot", str(tmp_path / "catalog.snapshot")):
                assert catalog_main(["restore", "--from", uri, "--if-missing", "skip"]) == 0
                assert capsys.readouterr().out == SKIPPED.format(uri=uri)
                assert catalog_main(["restore", "--from", uri]) == 2
                assert "no native snapshot at" in capsys.readouterr().err
            assert backend.get_collections().collections == []
    finally:
        backend.close()


def test_every_other_restore_error_still_fails_with_if_missing_skip(
    exported, catalog_env, tmp_path, capsys
):
    skip = ["--if-missing", "skip"]
    # Corrupt: a part whose SHA-256 differs from the manifest's.
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    part = broken / json.loads((broken / MANIFEST).read_text())["parts"][0]["file"]
    part.write_bytes(part.read_bytes()[:-10])
    assert catalog_main(["restore", "--from", str(broken), *skip]) == 2
    assert "corrupt" in capsys.readouterr().err
    # Unreadable: a manifest that is not JSON.
    (broken / MANIFEST).write_text("{not json")
    assert catalog_main(["restore", "--from", str(broken), *skip]) == 2
    assert "is not valid JSON" in capsys.readouterr().err
    # Made with other embeddings than the ones configured.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EMBEDDINGS_PROVIDER", "openai")
        patch.setenv("OPENAI_API_KEY", "sk-test-not-real")
        assert catalog_main(["restore", "--from", str(exported), *skip]) == 2
        assert "configured for openai/text-embedding-3-small" in capsys.readouterr().err
    # Qdrant down.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("QDRANT_ENDPOINT", f"http://127.0.0.1:{free_port()}")
        assert catalog_main(["restore", "--from", str(exported), *skip]) == 1
        assert "did not answer" in capsys.readouterr().err
    # The snapshot store down.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
        patch.setenv("AWS_ACCESS_KEY_ID", "test-key")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret-not-real")
        assert catalog_main(["restore", "--from", "s3://bucket/catalog/latest", *skip]) == 1
        assert "storage" in capsys.readouterr().err
