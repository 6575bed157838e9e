"""``myretail-rag``: serve the RAG API (settings from the environment)."""

from __future__ import annotations

import argparse

from myretail_common.logs import configure_logging
from myretail_common.ports import PortInUseError, ensure_port_free
from myretail_rag.console import EXIT_FAILED, EXIT_INVALID, EXIT_OK, print_error, start_process


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="myretail-rag",
        description="Serve the MyRetail RAG API (settings from the environment).",
    )
    parser.add_argument("--host", help="listen address (default: HOST)")
    parser.add_argument("--port", type=int, help="listen port (default: PORT, 8080)")
    args = parser.parse_args(argv)
    settings = start_process()
    if settings is None:
        return EXIT_INVALID
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = settings.model_copy(update=overrides)
    configure_logging(settings.log_level, settings.log_format)

    # Imported only now: torch and LangChain take seconds to load.
    from myretail_common.http import run_server
    from myretail_rag.api.app import create_app
    from myretail_rag.catalog.embeddings import embedding_identity
    from myretail_rag.catalog.vector_store import CatalogStore, VectorStoreError

    try:
        ensure_port_free(settings.port, "PORT")
        # Open the store first: a locked embedded folder is a clear error, not a crash.
        store = CatalogStore.from_settings(settings, embedding_identity(settings))
    except (PortInUseError, VectorStoreError, ValueError) as exc:
        print_error(str(exc))
        return EXIT_FAILED
    try:
        run_server(create_app(settings, vector_store=store), settings)
    finally:
        store.close()
    return EXIT_OK
