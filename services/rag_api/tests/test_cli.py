"""The console scripts: ``myretail-catalog load`` and ``myretail-rag`` start-up errors."""

from __future__ import annotations

import socket

from myretail_rag.api import serve
from myretail_rag.catalog import cli as catalog_cli
from myretail_rag.catalog.vector_store import CatalogStore
from myretail_testkit.rag import MINI_ROWS, small_csv


def test_load_a_csv_file(catalog_env, capsys, embedding_model):
    path = catalog_env / "mini.csv"
    path.write_bytes(small_csv(MINI_ROWS))
    assert catalog_cli.main(["load", str(path), "--batch-size", "2"]) == 0
    captured = capsys.readouterr()
    assert "loaded 4 products into 'catalog'" in captured.out
    assert "validated 4 products" in captured.err
    assert "embedded and wrote 4/4 products (100%" in captured.err
    # Loading the same file again replaces, never duplicates.
    assert catalog_cli.main(["load", f"file://{path}"]) == 0
    from myretail_testkit.rag import make_settings

    settings = make_settings(catalog_env)
    store = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        assert store.count() == 4
        assert len(store.collections()) == 1
    finally:
        store.close()


def test_load_errors_have_exit_code_2_and_row_numbers(catalog_env, capsys):
    bad = catalog_env / "bad.csv"
    bad.write_bytes(small_csv([MINI_ROWS[0], MINI_ROWS[1].replace(",women,", ",aliens,")]))
    assert catalog_cli.main(["load", str(bad)]) == 2
    assert "row 3: gender must be one of" in capsys.readouterr().err
    assert catalog_cli.main(["load", str(catalog_env / "missing.csv")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_an_embedded_folder_in_use_is_a_clear_error(catalog_env, capsys, embedding_model):
    from myretail_testkit.rag import make_settings

    settings = make_settings(catalog_env)
    holder = CatalogStore.from_settings(settings, embedding_model.identity)
    try:
        path = catalog_env / "mini.csv"
        path.write_bytes(small_csv(MINI_ROWS))
        assert catalog_cli.main(["load", str(path)]) == 1
        assert "is open in another process" in capsys.readouterr().err
    finally:
        holder.close()


def test_serve_refuses_a_port_in_use(catalog_env, capsys):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert serve.main(["--port", str(port)]) == 1
    assert "is already in use" in capsys.readouterr().err
