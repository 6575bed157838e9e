"""``myretail-catalog``: load, export and restore the catalog (the catalog-restore Job's
entry point).

Exit codes are :mod:`myretail_rag.console`'s: 0 done; 1 a dependency failed (Qdrant down,
storage unreachable) or the result did not verify; 2 invalid input (CSV, source, snapshot,
settings, embeddings that do not match). Progress goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from myretail_common.logs import configure_logging
from myretail_common.storage import StorageError
from myretail_rag.console import EXIT_FAILED, EXIT_INVALID, EXIT_OK, print_error, start_process
from myretail_rag.settings import RagSettings

if TYPE_CHECKING:
    from myretail_rag.catalog.vector_store import CatalogStore


def _progress(verb: str, unit: str) -> Callable[[int, int, float], None]:
    last = {"at": 0.0}

    def report(done: int, total: int, seconds: float) -> None:
        now = time.monotonic()
        if done < total and now - last["at"] < 0.5:
            return
        last["at"] = now
        share = 100 * done / total if total else 100
        rate = done / seconds if seconds > 0 else 0.0
        print(
            f"{verb} {done}/{total} {unit} ({share:.0f}%, {rate:.0f} {unit}/s)",
            file=sys.stderr,
            flush=True,
        )

    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="myretail-catalog",
        description="Load, export and restore the product catalog in Qdrant "
        "(QDRANT_ENDPOINT, else embedded Qdrant at QDRANT_PATH).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="load (replace) the catalog from a CSV path or URL")
    load.add_argument("source", metavar="PATH|URL", help="CSV file, file://, http(s):// or s3://")
    load.add_argument("--batch-size", type=int, help="products per batch (LOAD_BATCH_SIZE)")
    export = commands.add_parser("export", help="write a portable snapshot of the catalog")
    export.add_argument("--to", required=True, metavar="URI", help="folder path, file:// or s3://")
    restore = commands.add_parser(
        "restore", help="restore a portable snapshot (or a native .snapshot on a Qdrant server)"
    )
    restore.add_argument("--from", dest="source", required=True, metavar="URI")
    restore.add_argument("--batch-size", type=int, default=256, help="points per write")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = start_process()
    if settings is None:
        return EXIT_INVALID
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)

    # Imported only now: torch and LangChain take seconds to load.
    from myretail_rag.catalog.embeddings import EmbeddingsUnavailableError, embedding_identity
    from myretail_rag.catalog.schema import CatalogValidationError
    from myretail_rag.catalog.snapshots import SnapshotError, VerificationError
    from myretail_rag.catalog.sources import SourceError
    from myretail_rag.catalog.vector_store import (
        CatalogStore,
        EmbeddingMismatchError,
        StoreLockedError,
        VectorStoreError,
    )

    try:
        identity = embedding_identity(settings)
        store = CatalogStore.from_settings(settings, identity)
    except StoreLockedError as exc:
        print_error(str(exc))
        return EXIT_FAILED
    except ValueError as exc:
        print_error(str(exc))
        return EXIT_INVALID
    try:
        if args.command == "load":
            return _load(args, settings, store)
        if args.command == "export":
            return _export(args, settings, store)
        return _restore(args, settings, store)
    except (CatalogValidationError, SourceError, EmbeddingMismatchError) as exc:
        print_error(str(exc))
        return EXIT_INVALID
    except VerificationError as exc:
        print_error(f"restore did not verify: {exc}")
        return EXIT_FAILED
    except SnapshotError as exc:
        print_error(str(exc))
        return EXIT_INVALID
    except (VectorStoreError, StorageError, EmbeddingsUnavailableError) as exc:
        print_error(str(exc))
        return EXIT_FAILED
    finally:
        store.close()


def _load(args: argparse.Namespace, settings: RagSettings, store: CatalogStore) -> int:
    from myretail_rag.catalog.embeddings import load_embeddings
    from myretail_rag.catalog.loading import load_products
    from myretail_rag.catalog.schema import parse_catalog
    from myretail_rag.catalog.sources import SourcePolicy, describe_source, read_source

    data = read_source(args.source, SourcePolicy.for_cli(settings), settings)
    products = parse_catalog(data, max_products=settings.load_max_products)
    print(
        f"validated {len(products)} products from {describe_source(args.source)}",
        file=sys.stderr,
        flush=True,
    )
    print("loading the embedding model ...", file=sys.stderr, flush=True)
    embeddings = load_embeddings(settings)
    result = load_products(
        products,
        store,
        embeddings,
        source=args.source,
        batch_size=args.batch_size or settings.load_batch_size,
        progress=_progress("embedded and wrote", "products"),
    )
    print(
        f"loaded {result.products} products into {store.alias!r} "
        f"(collection {result.collection}) in {result.seconds:.1f} s "
        f"({result.rate:.0f} products/s)"
    )
    return EXIT_OK


def _export(args: argparse.Namespace, settings: RagSettings, store: CatalogStore) -> int:
    from myretail_rag.catalog.snapshots import export_snapshot

    result = export_snapshot(store, args.to, settings, progress=_progress("exported", "points"))
    print(f"exported {result.points} points to {result.uri} in {result.seconds:.1f} s")
    return EXIT_OK


def _restore(args: argparse.Namespace, settings: RagSettings, store: CatalogStore) -> int:
    from myretail_rag.catalog.snapshots import (
        is_native_snapshot,
        recover_native,
        restore_snapshot,
    )

    if is_native_snapshot(args.source):
        result = recover_native(store, args.source, settings)
    else:
        result = restore_snapshot(
            store,
            args.source,
            settings,
            batch_size=max(1, args.batch_size),
            progress=_progress("restored", "points"),
        )
    if result.already_current:
        print(
            f"{store.alias!r} already serves this snapshot ({result.points} points); nothing to do"
        )
    else:
        print(
            f"restored {result.points} points into {store.alias!r} "
            f"(collection {result.collection}) in {result.seconds:.1f} s; verified"
        )
    return EXIT_OK
