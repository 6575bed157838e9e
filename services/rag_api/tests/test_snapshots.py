"""Portable snapshots: export -> restore gives identical search results; restores are
idempotent, resumable after a crash, verified; native .snapshot needs a Qdrant server."""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from qdrant_client import QdrantClient

from myretail_common.ports import free_port
from myretail_rag.catalog.cli import main as catalog_main
from myretail_rag.catalog.embeddings import EmbeddingIdentity
from myretail_rag.catalog.loading import load_products
from myretail_rag.catalog.snapshots import (
    MANIFEST,
    SnapshotError,
    export_snapshot,
    restore_snapshot,
)
from myretail_rag.catalog.vector_store import CatalogStore, EmbeddingMismatchError
from myretail_rag.understanding.search import CatalogSearch
from myretail_testkit.qdrant_gateway import QdrantGateway
from myretail_testkit.rag import make_settings, s3_settings, search_results
from myretail_testkit.servers import LiveServer


def test_the_snapshot_format(exported: Path):
    manifest = json.loads((exported / MANIFEST).read_text())
    assert manifest["format"] == "myretail-catalog-snapshot" and manifest["version"] == 1
    assert manifest["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert manifest["embedding_dimension"] == 384
    assert manifest["points"] == 1233
    assert sum(part["points"] for part in manifest["parts"]) == 1233
    first = gzip.decompress((exported / manifest["parts"][0]["file"]).read_bytes())
    point = json.loads(first.splitlines()[0])
    assert set(point) == {"id", "vector", "payload"}
    assert set(point["payload"]) == {"page_content", "metadata"}


def test_export_then_restore_gives_identical_search_results(
    exported, store, tmp_path, embedding_model
):
    original = search_results(CatalogSearch(store, embedding_model))
    settings = make_settings(tmp_path / "restored")
    target = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        outcome = restore_snapshot(target, str(exported), settings, batch_size=500)
        assert outcome.points == 1233 and not outcome.already_current
        assert target.count() == 1233
        assert search_results(CatalogSearch(target, embedding_model)) == original
        # Running it again changes nothing.
        again = restore_snapshot(target, str(exported), settings)
        assert again.already_current
        assert target.count() == 1233
    finally:
        target.close()


def test_restore_replaces_another_catalog_exactly(exported, tmp_path, embedding_model):
    """An operator's rollback (``replace="always"``): the loaded catalog is newer than the
    snapshot, so the default restore would keep it (test_restore_policy.py)."""
    settings = make_settings(tmp_path)
    target = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        from myretail_rag.catalog.schema import parse_catalog
        from myretail_testkit.rag import MINI_ROWS, small_csv

        products = parse_catalog(small_csv(MINI_ROWS))
        load_products(products, target, embedding_model, source="mini.csv")
        assert target.count() == 4
        restore_snapshot(target, str(exported), settings, replace="always")
        assert target.count() == 1233
        assert len(target.collections()) == 1
    finally:
        target.close()


KILLED_AFTER_FIRST_BATCH = """
import os, signal
from myretail_rag.catalog import cli

report = cli._progress

def progress_then_die(verb, unit):
    inner = report(verb, unit)
    def hook(done, total, seconds):
        inner(done, total, seconds)
        if 0 < done < total:
            os.kill(os.getpid(), signal.SIGKILL)
    return hook

cli._progress = progress_then_die
raise SystemExit(cli.main())
"""


def catalog_collections(client: QdrantClient) -> list[str]:
    """The catalog's collections in a Qdrant, its load-lease markers left out."""
    return [c.name for c in client.get_collections().collections if ".lease-" not in c.name]


def test_a_restore_killed_midway_then_rerun_gives_exactly_n_points(exported, tmp_path):
    qdrant = tmp_path / "qdrant"
    env = {
        **os.environ,
        "QDRANT_PATH": str(qdrant),
        "LOG_LEVEL": "WARNING",
        "HF_HUB_OFFLINE": "1",
        # The killed Job's catalog lease lingers until it expires (renewed every third of
        # this): long enough that the rerun, started a few seconds after the kill on a busy
        # machine, still finds it and waits.
        "LOAD_LEASE_SECONDS": "20",
    }
    env.pop("QDRANT_ENDPOINT", None)
    command = [
        sys.executable,
        "-c",
        "from myretail_rag.catalog.cli import main; raise SystemExit(main())",
        "restore",
        "--from",
        str(exported),
        "--batch-size",
        "10",
    ]
    # The Job's pod is killed mid-restore: the process SIGKILLs itself right after its first
    # progress report (the first batch is written), at that exact point whatever the load.
    killed_midway = [sys.executable, "-c", KILLED_AFTER_FIRST_BATCH, *command[3:]]
    process = subprocess.run(killed_midway, env=env, capture_output=True, text=True, timeout=300)
    assert process.returncode == -signal.SIGKILL, process.stderr[-2000:]
    assert "restored 10/1233 points" in process.stderr

    # Nothing half-restored is visible: the alias was never moved.
    client = QdrantClient(path=str(qdrant))
    try:
        assert [a.alias_name for a in client.get_aliases().aliases] == []
        (partial,) = catalog_collections(client)
        assert 0 < client.count(partial).count < 1233
    finally:
        client.close()

    # The Job runs again: it continues into the same collection and verifies.
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert "restored 1233 points" in rerun.stdout and "verified" in rerun.stdout
    assert "a catalog load is already running" in rerun.stderr  # it waited for the lease
    client = QdrantClient(path=str(qdrant))
    try:
        assert client.count("catalog").count == 1233
        assert catalog_collections(client) == [partial]
    finally:
        client.close()


def test_restore_through_s3(exported, tmp_path, embedding_model, seaweedfs, s3_bucket):
    s3 = s3_settings(seaweedfs)
    source = make_settings(tmp_path / "source", **s3)
    shutil.copytree(exported.parent / "qdrant", tmp_path / "source" / "qdrant")
    store = CatalogStore.from_settings(source, embedding_model.identity)
    uri = f"s3://{s3_bucket}/snapshots/catalog-v1"
    try:
        export_snapshot(store, uri, source)
    finally:
        store.close()
    target_settings = make_settings(tmp_path / "target", **s3)
    target = CatalogStore.from_settings(target_settings, embedding_model.identity)
    try:
        restore_snapshot(target, uri, target_settings)
        assert target.count() == 1233
    finally:
        target.close()


def test_a_snapshot_of_other_embeddings_is_refused(exported, tmp_path):
    settings = make_settings(tmp_path)
    other = CatalogStore.from_settings(
        settings, EmbeddingIdentity("openai/text-embedding-3-small", 1536)
    )
    try:
        with pytest.raises(EmbeddingMismatchError, match="configured for openai"):
            restore_snapshot(other, str(exported), settings)
        assert other.collections() == []
    finally:
        other.close()


def test_corrupt_and_missing_snapshots_are_clear_errors(exported, tmp_path, embedding_model):
    broken = tmp_path / "broken"
    shutil.copytree(exported, broken)
    manifest = json.loads((broken / MANIFEST).read_text())
    part = broken / manifest["parts"][0]["file"]
    part.write_bytes(part.read_bytes()[:-10])
    settings = make_settings(tmp_path)
    target = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        with pytest.raises(SnapshotError, match="corrupt"):
            restore_snapshot(target, str(broken), settings)
        assert target.live_collection() is None
        with pytest.raises(SnapshotError, match="no portable snapshot"):
            restore_snapshot(target, str(tmp_path / "nothing-here"), settings)
    finally:
        target.close()


def test_cli_restore_exit_codes(exported, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QDRANT_PATH", str(tmp_path / "qdrant"))
    monkeypatch.delenv("QDRANT_ENDPOINT", raising=False)
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    assert catalog_main(["restore", "--from", str(tmp_path / "missing")]) == 2
    assert "no portable snapshot" in capsys.readouterr().err
    assert catalog_main(["restore", "--from", str(tmp_path / "x.snapshot")]) == 2
    assert "need a Qdrant server" in capsys.readouterr().err
    monkeypatch.setenv("EMBEDDINGS_PROVIDER", "openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
    assert catalog_main(["restore", "--from", str(exported)]) == 2
    assert "configured for openai/text-embedding-3-small" in capsys.readouterr().err


def test_restore_into_a_qdrant_server_and_native_recover_request(
    exported, tmp_path, monkeypatch, capsys
):
    """Server mode through the REST stand-in: portable restore into the server, then a
    native .snapshot goes to Qdrant's snapshot-recover API (the stand-in records the call
    but cannot unpack Qdrant's native format, so the CLI's verification reports it)."""
    backend = QdrantClient(path=str(tmp_path / "server"))
    gateway = QdrantGateway(backend)
    port = free_port()
    monkeypatch.setenv("QDRANT_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    # The in-process REST stand-in is far slower than a Qdrant server on a loaded machine:
    # its writes get a timeout that does not depend on the load.
    monkeypatch.setenv("QDRANT_TIMEOUT_SECONDS", "120")
    try:
        with LiveServer(gateway.app, port=port):
            assert catalog_main(["restore", "--from", str(exported)]) == 0
            assert "restored 1233 points" in capsys.readouterr().out
            assert backend.count("catalog").count == 1233
            indexed = sorted(
                body["field_name"]
                for method, path, body in gateway.requests
                if path.endswith("/index")
            )
            assert indexed == [
                "metadata.age_group",
                "metadata.category",
                "metadata.gender",
                "metadata.price",
                "metadata.rating",
                "metadata.subcategory",
            ]
            url = "https://snapshots.example.com/catalog-2026.snapshot"
            # A native snapshot records no version: the live catalog is kept by default ...
            assert catalog_main(["restore", "--from", url]) == 0
            assert "the snapshot records no version" in capsys.readouterr().out
            assert not [r for r in gateway.requests if "recover" in r[1]]
            # ... and replaced when the operator says so.
            assert catalog_main(["restore", "--from", url, "--replace", "always"]) == 1
            assert "did not create" in capsys.readouterr().err
            method, path, body = next(r for r in gateway.requests if "recover" in r[1])
            assert method == "PUT" and path.startswith("/collections/catalog--native-")
            assert body["location"] == url and body["priority"] == "snapshot"
            assert backend.count("catalog").count == 1233  # the live catalog is untouched
    finally:
        backend.close()
