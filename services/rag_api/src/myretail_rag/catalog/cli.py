"""``myretail-catalog``: load, export and restore the catalog (the catalog-restore Job's
entry point).

``export --from-csv CSV --to URI`` makes the first catalog snapshot of an install without
any Qdrant server; ``restore --from URI --if-missing skip`` (the restore Job on a first
install) exits 0 with a message when nothing is published at ``URI`` yet. ``restore``
never replaces a newer live catalog (``--replace if-newer``, the default: the Job runs on
every upgrade); it says what it decided and exits 0 either way. ``--replace always`` rolls
back on purpose.

``load`` and ``restore`` hold the catalog lease (one load at a time across replicas) and
wait for another holder up to ``LOAD_LEASE_WAIT_SECONDS``.

Exit codes are :mod:`myretail_rag.console`'s: 0 done; 1 a dependency failed (Qdrant down,
storage unreachable) or the result did not verify; 2 invalid input (CSV, source, snapshot,
settings, embeddings that do not match). Progress goes to stderr, the summary to stdout.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from myretail_common.logs import configure_logging
from myretail_common.storage import StorageError
from myretail_rag.console import EXIT_FAILED, EXIT_INVALID, EXIT_OK, print_error, start_process
from myretail_rag.settings import RagSettings

if TYPE_CHECKING:
    from myretail_rag.catalog.embeddings import EmbeddingModel
    from myretail_rag.catalog.lease import CatalogLease
    from myretail_rag.catalog.schema import Product
    from myretail_rag.catalog.snapshots import RestoreResult
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
        "(QDRANT_ENDPOINT, else embedded Qdrant at QDRANT_PATH). Snapshot URIs: one ending "
        "in .snapshot is a native Qdrant snapshot file, any other a portable snapshot folder.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    load = commands.add_parser("load", help="load (replace) the catalog from a CSV path or URL")
    load.add_argument("source", metavar="PATH|URL", help="CSV file, file://, http(s):// or s3://")
    load.add_argument("--batch-size", type=int, help="products per batch (LOAD_BATCH_SIZE)")
    export = commands.add_parser(
        "export",
        help="write a portable snapshot folder of the live catalog, or of a CSV (--from-csv)",
    )
    export.add_argument(
        "--to",
        required=True,
        metavar="URI",
        help="snapshot folder: a path, file:// or s3:// (not ending in .snapshot)",
    )
    export.add_argument(
        "--from-csv",
        metavar="PATH|URL",
        help="embed this catalog CSV in a temporary in-memory Qdrant and export it "
        "(no Qdrant server needed) instead of exporting the live catalog",
    )
    export.add_argument("--batch-size", type=int, help="products per batch (LOAD_BATCH_SIZE)")
    restore = commands.add_parser(
        "restore", help="restore a portable snapshot (or a native .snapshot on a Qdrant server)"
    )
    restore.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URI",
        help="a portable snapshot folder (path, file:// or s3://), or a native Qdrant "
        "snapshot file when URI ends in .snapshot (path, s3:// or http(s)://; needs a "
        "Qdrant server)",
    )
    restore.add_argument("--batch-size", type=int, default=256, help="points per write")
    restore.add_argument(
        "--replace",
        choices=("if-newer", "always"),
        default="if-newer",
        help="if-newer (the default): restore only into an empty catalog or over an older "
        "one, keeping a newer live catalog (exit 0 with a message); always: replace it",
    )
    restore.add_argument(
        "--if-missing",
        choices=("fail", "skip"),
        default="fail",
        help="when no snapshot exists at URI: fail (exit 2, the default) or skip (exit 0 "
        "with a message; the catalog stays as it is, e.g. on a first install)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = start_process()
    if settings is None:
        return EXIT_INVALID
    configure_logging(settings.log_level, settings.log_format, stream=sys.stderr)

    # Imported only now: torch and LangChain take seconds to load.
    from myretail_rag.catalog.embeddings import EmbeddingsUnavailableError
    from myretail_rag.catalog.schema import CatalogValidationError
    from myretail_rag.catalog.snapshots import SnapshotError, VerificationError
    from myretail_rag.catalog.sources import SourceError
    from myretail_rag.catalog.vector_store import EmbeddingMismatchError, VectorStoreError

    commands = {"load": _load, "export": _export, "restore": _restore}
    invalid_input = (
        InvalidSettingsError,
        CatalogValidationError,
        SourceError,
        EmbeddingMismatchError,
        SnapshotError,
    )
    try:
        return commands[args.command](args, settings)
    except VerificationError as exc:  # a SnapshotError, but the result is what failed
        print_error(f"restore did not verify: {exc}")
        return EXIT_FAILED
    except invalid_input as exc:
        print_error(str(exc))
        return EXIT_INVALID
    except (VectorStoreError, StorageError, EmbeddingsUnavailableError) as exc:
        print_error(str(exc))
        return EXIT_FAILED


class InvalidSettingsError(Exception):
    """The Qdrant or embedding settings cannot be used (exit 2)."""


@contextmanager
def _configured_store(settings: RagSettings) -> Iterator[CatalogStore]:
    """The catalog in the configured Qdrant (QDRANT_ENDPOINT, else QDRANT_PATH)."""
    from myretail_rag.catalog.embeddings import embedding_identity
    from myretail_rag.catalog.vector_store import CatalogStore

    try:
        store = CatalogStore.from_settings(settings, embedding_identity(settings))
    except ValueError as exc:
        raise InvalidSettingsError(str(exc)) from exc
    try:
        yield store
    finally:
        store.close()


def _read_products(source: str, settings: RagSettings) -> tuple[list[Product], EmbeddingModel]:
    """A whole catalog CSV, validated, and the embedding model to embed it with."""
    from myretail_rag.catalog.embeddings import load_embeddings
    from myretail_rag.catalog.schema import parse_catalog
    from myretail_rag.catalog.sources import SourcePolicy, describe_source, read_source

    data = read_source(source, SourcePolicy.for_cli(settings), settings)
    products = parse_catalog(data, max_products=settings.load_max_products)
    print(
        f"validated {len(products)} products from {describe_source(source)}",
        file=sys.stderr,
        flush=True,
    )
    print("loading the embedding model ...", file=sys.stderr, flush=True)
    return products, load_embeddings(settings)


def _load(args: argparse.Namespace, settings: RagSettings) -> int:
    from myretail_rag.catalog.loading import load_products

    with _configured_store(settings) as store:  # first: a folder in use fails at once
        products, embeddings = _read_products(args.source, settings)
        result = load_products(
            products,
            store,
            embeddings,
            source=args.source,
            batch_size=args.batch_size or settings.load_batch_size,
            progress=_progress("embedded and wrote", "products"),
            lease=_lease(store, settings),
        )
        print(
            f"loaded {result.products} products into {store.alias!r} "
            f"(collection {result.collection}) in {result.seconds:.1f} s "
            f"({result.rate:.0f} products/s)"
        )
    return EXIT_OK


def _export(args: argparse.Namespace, settings: RagSettings) -> int:
    from myretail_rag.catalog.snapshots import (
        check_portable_uri,
        export_products,
        export_snapshot,
    )

    check_portable_uri(args.to)  # before any reading or embedding
    if args.from_csv:
        products, embeddings = _read_products(args.from_csv, settings)
        result = export_products(
            products,
            embeddings,
            args.to,
            settings,
            source=args.from_csv,
            batch_size=args.batch_size or settings.load_batch_size,
            progress=_progress("embedded", "products"),
            export_progress=_progress("exported", "points"),
        )
    else:
        with _configured_store(settings) as store:
            result = export_snapshot(
                store, args.to, settings, progress=_progress("exported", "points")
            )
    print(f"exported {result.points} points to {result.uri} in {result.seconds:.1f} s")
    return EXIT_OK


def _restore(args: argparse.Namespace, settings: RagSettings) -> int:
    from myretail_rag.catalog.snapshots import SnapshotMissingError
    from myretail_rag.catalog.sources import describe_source

    with _configured_store(settings) as store:
        try:
            result = _restore_into(store, args, settings, _lease(store, settings))
        except SnapshotMissingError:
            if args.if_missing != "skip":
                raise
            print(
                f"no catalog snapshot at {describe_source(args.source)}: the catalog stays as "
                "it is (empty on a first install); load one with POST /load_data or restore "
                "later"
            )
            return EXIT_OK
        if result.kept is not None:
            print(
                f"kept the live catalog of {store.alias!r} ({result.points} products): "
                f"{result.kept.reason}; restore with --replace always to replace it anyway"
            )
        elif result.already_current:
            print(
                f"{store.alias!r} already serves this snapshot ({result.points} points); "
                "nothing to do"
            )
        else:
            print(
                f"restored {result.points} points into {store.alias!r} "
                f"(collection {result.collection}) in {result.seconds:.1f} s; verified"
            )
    return EXIT_OK


def _restore_into(
    store: CatalogStore, args: argparse.Namespace, settings: RagSettings, lease: CatalogLease
) -> RestoreResult:
    """A native ``.snapshot`` or a portable folder, by the naming rule."""
    from myretail_rag.catalog.snapshots import (
        is_native_snapshot,
        recover_native,
        restore_snapshot,
    )

    if is_native_snapshot(args.source):
        return recover_native(store, args.source, settings, replace=args.replace, lease=lease)
    return restore_snapshot(
        store,
        args.source,
        settings,
        batch_size=max(1, args.batch_size),
        progress=_progress("restored", "points"),
        replace=args.replace,
        lease=lease,
    )


def _lease(store: CatalogStore, settings: RagSettings) -> CatalogLease:
    """The catalog lease, taken when the work needs it; it waits while another load or
    restore holds it (LOAD_LEASE_WAIT_SECONDS)."""
    from myretail_rag.catalog.lease import CatalogLease

    return CatalogLease(
        store, settings.load_lease_seconds, wait_seconds=settings.load_lease_wait_seconds
    )
