"""A ``helm upgrade`` never replaces a newer catalog.

The chart's post-install/post-upgrade Job runs ``myretail-catalog restore --from URI
--if-missing skip`` on every release. Here it runs (in this process, as the console script)
against the Qdrant server the real RAG API uses (the REST stand-in): it fills an empty
catalog, keeps a catalog loaded through ``/load_data`` since the snapshot was made (exit 0,
the decision printed and logged), replaces an older one with a newer snapshot, and rolls
back only when told to (``--replace always``).
"""

from __future__ import annotations

import json
from pathlib import Path

from qdrant_client import QdrantClient

from myretail_common.ports import free_port
from myretail_rag.catalog.cli import main as catalog_main
from myretail_rag.catalog.vector_store import CatalogStore
from myretail_testkit.qdrant_gateway import QdrantGateway
from myretail_testkit.rag import BOOK_QUESTION, MINI_ROWS, make_settings, small_csv
from myretail_testkit.servers import LiveServer


def restore_job(snapshot: Path, *extra: str) -> int:
    """The chart's restore Job, as it runs on every install and upgrade."""
    return catalog_main(["restore", "--from", str(snapshot), "--if-missing", "skip", *extra])


def decisions(stderr: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("message") == "restore decision"]


def test_the_upgrade_restore_fills_an_empty_catalog_and_never_replaces_a_newer_one(
    tmp_path, exported, embedding_model, history, make_client, monkeypatch, capsys
):
    backend = QdrantClient(path=str(tmp_path / "server"))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("QDRANT_ENDPOINT", endpoint)
    monkeypatch.setenv("QDRANT_TIMEOUT_SECONDS", "120")  # the stand-in is slow under load
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    monkeypatch.setenv("LOG_FORMAT", "json")
    settings = make_settings(
        tmp_path,
        qdrant_endpoint=endpoint,
        qdrant_timeout_seconds=120,
        load_allow_private_addresses=True,
    )
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    csv = tmp_path / "feeds" / "mini.csv"
    csv.parent.mkdir()
    csv.write_bytes(small_csv(MINI_ROWS))
    try:
        with LiveServer(QdrantGateway(backend).app, port=port):
            client = make_client(settings, store, history)

            # First install: the catalog is empty, the Job fills it.
            assert restore_job(exported) == 0
            out, err = capsys.readouterr()
            assert "restored 1233 points" in out
            assert decisions(err)[-1]["reason"] == "the catalog is empty"
            assert store.count() == 1233

            # Last week: a newer catalog was loaded (here with the CLI; /load_data alike).
            assert catalog_main(["load", str(csv)]) == 0
            capsys.readouterr()
            assert store.count() == 4

            # helm upgrade: the Job runs again with the older snapshot and keeps the catalog.
            assert restore_job(exported) == 0
            out, err = capsys.readouterr()
            assert out.startswith("kept the live catalog of 'catalog' (4 products): ")
            assert "the live catalog is as new or newer" in out
            (decision,) = decisions(err)
            assert decision["restore"] is False
            assert store.count() == 4
            answer = client.post("/generate", json={"prompt": BOOK_QUESTION}).json()
            assert answer["sources"][0]["product_id"] == "T-1"

            # An export of the live catalog is not newer than it either.
            newer = tmp_path / "snapshots" / "newer"
            assert catalog_main(["export", "--to", str(newer)]) == 0
            assert restore_job(newer) == 0
            assert "kept the live catalog" in capsys.readouterr().out
            assert store.count() == 4

            # A deliberate rollback replaces it; then the newer snapshot wins over it.
            assert restore_job(exported, "--replace", "always") == 0
            assert "restored 1233 points" in capsys.readouterr().out
            assert store.count() == 1233
            assert restore_job(newer) == 0
            out, err = capsys.readouterr()
            assert "restored 4 points" in out
            assert decisions(err)[-1]["reason"].startswith("the snapshot is newer")
            assert store.count() == 4
    finally:
        store.close()
        backend.close()
