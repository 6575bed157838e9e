"""Loading a catalog: validate it whole, embed and write it into a new collection, switch.

The load builds a new physical collection (embedding batch *n+1* while batch *n* is
written), checks its point count, then moves the catalog alias to it and drops the old
one: a failed load leaves the previous catalog untouched and nothing half-loaded visible.
Where the CSV comes from is :mod:`myretail_rag.catalog.sources`.

Loads, restores and their clean-up run under the catalog lease
(:mod:`myretail_rag.catalog.lease`): one at a time across replicas. The live collection is
never dropped (a switch whose answer was lost may have made it live), and clean-up drops
only what no running load can be building: collections of older lease generations, and
unfinished ones from before leases that are over an hour old.

Every catalog records ``catalog_version``: when its content was made (a load: now; a
restore: the snapshot's own version), so a restore can tell whether a snapshot is newer
than the live catalog.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from myretail_rag.catalog.embeddings import EmbeddingModel
from myretail_rag.catalog.lease import CatalogLease, held_lease
from myretail_rag.catalog.schema import Product, facets, parse_catalog
from myretail_rag.catalog.sources import describe_source
from myretail_rag.catalog.vector_store import CatalogStore, VectorStoreError, make_point
from myretail_rag.settings import RagSettings

logger = logging.getLogger(__name__)

STALE_BUILD_AGE = timedelta(hours=1)


def now_version() -> str:
    """A catalog version for content made now (ISO 8601, UTC, microseconds)."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


Progress = Callable[[int, int, float], None]


@dataclass
class LoadResult:
    products: int
    collection: str
    seconds: float
    replaced: str | None

    @property
    def rate(self) -> float:
        return self.products / self.seconds if self.seconds > 0 else 0.0


def _batches(items: list[Product], size: int) -> Iterator[list[Product]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def write_products(
    products: list[Product],
    store: CatalogStore,
    embeddings: EmbeddingModel,
    collection: str,
    batch_size: int,
    progress: Progress | None = None,
) -> None:
    """Embed and upsert ``products`` into ``collection``; batch n+1 is embedded while
    batch n is written."""
    started = time.perf_counter()
    done = 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="upsert") as writer:
        pending: Future[None] | None = None
        for batch in _batches(products, batch_size):
            documents = [product.to_document() for product in batch]
            vectors = embeddings.embed_documents([doc.page_content for doc in documents])
            points = [
                make_point(str(doc.id), vector, doc.page_content, doc.metadata)
                for doc, vector in zip(documents, vectors, strict=True)
            ]
            if pending is not None:
                pending.result()
                if progress:
                    progress(done, len(products), time.perf_counter() - started)
            pending = writer.submit(store.upsert, collection, points)
            done += len(batch)
        if pending is not None:
            pending.result()
    if progress:
        progress(done, len(products), time.perf_counter() - started)


def load_products(
    products: list[Product],
    store: CatalogStore,
    embeddings: EmbeddingModel,
    *,
    source: str,
    batch_size: int = 256,
    progress: Progress | None = None,
    lease: CatalogLease | None = None,
) -> LoadResult:
    """Replace the catalog with ``products``, atomically (see the module docstring), under
    ``lease`` (taken here, without waiting, when not given)."""
    with held_lease(store, lease) as held:
        return _load(products, store, embeddings, source, batch_size, progress, held)


def _load(
    products: list[Product],
    store: CatalogStore,
    embeddings: EmbeddingModel,
    source: str,
    batch_size: int,
    progress: Progress | None,
    lease: CatalogLease,
) -> LoadResult:
    started = time.perf_counter()
    if embeddings.identity != store.identity:
        raise VectorStoreError(
            f"the embeddings ({embeddings.identity.describe()}) differ from the store's "
            f"({store.identity.describe()})"
        )
    name = store.new_collection_name("load")
    store.create_collection(
        name,
        {
            "source": describe_source(source),
            "products": len(products),
            "facets": facets(products),
            "lease": lease.generation,
        },
    )
    try:
        write_products(products, store, embeddings, name, batch_size, progress)
        written = store.count(name)
        if written != len(products):
            raise VectorStoreError(
                f"collection {name} holds {written} points after loading {len(products)} products"
            )
        version = now_version()
        store.update_metadata(
            name, {"state": "ready", "loaded_at": version, "catalog_version": version}
        )
        previous = switch_under_lease(store, name, lease)
    except BaseException:
        drop_quietly(store, name)
        raise
    drop_stale(store, keep=[name], lease=lease)
    seconds = time.perf_counter() - started
    logger.info(
        "catalog loaded",
        extra={
            "products": len(products),
            "collection": name,
            "seconds": round(seconds, 1),
            "source": describe_source(source),
        },
    )
    return LoadResult(len(products), name, seconds, previous)


def switch_under_lease(store: CatalogStore, name: str, lease: CatalogLease) -> str | None:
    """Make ``name`` the live catalog if the lease is still ours; drops the collection it
    replaced and returns its name."""
    lease.verify()
    previous = store.switch_alias(name)
    if previous is not None and previous != name:
        drop_quietly(store, previous)
    return previous


def load_catalog(
    data: bytes,
    store: CatalogStore,
    embeddings: EmbeddingModel,
    *,
    source: str,
    settings: RagSettings,
    progress: Progress | None = None,
    lease: CatalogLease | None = None,
) -> LoadResult:
    """Validate a whole catalog CSV, then load it (nothing is written if a row is invalid)."""
    products = parse_catalog(data, max_products=settings.load_max_products)
    return load_products(
        products,
        store,
        embeddings,
        source=source,
        batch_size=settings.load_batch_size,
        progress=progress,
        lease=lease,
    )


def drop_quietly(store: CatalogStore, name: str) -> None:
    """Delete a collection unless it is (or may be) the live one, logging a failure."""
    try:
        if store.live_collection() == name:
            logger.warning(
                "kept the collection: it is the live catalog", extra={"collection": name}
            )
            return
        store.delete_collection(name)
    except Exception:  # Qdrant may be what failed; the next load cleans up
        logger.warning("could not delete collection", extra={"collection": name})


def drop_stale(store: CatalogStore, keep: list[str], lease: CatalogLease) -> None:
    """Delete this catalog's collections that nothing points at and no running load builds
    (see the module docstring); runs while ``lease`` is held."""
    try:
        live = store.live_collection()
        now = datetime.now(UTC)
        for name in store.stale_collections([*keep, *([live] if live else [])]):
            if _abandoned(store.metadata(name), now, lease):
                drop_quietly(store, name)
    except VectorStoreError:
        logger.warning("could not clean up old collections")


def _abandoned(metadata: dict[str, Any], now: datetime, lease: CatalogLease) -> bool:
    generation = metadata.get("lease")
    if isinstance(generation, int) and lease.generation is not None:
        # Built under an older lease: its holder finished, failed or lost the lease.
        return generation < lease.generation
    # From before leases: finished ones, and unfinished ones over an hour old.
    try:
        age = now - datetime.fromisoformat(str(metadata.get("created_at")))
    except ValueError:
        age = STALE_BUILD_AGE
    return metadata.get("state") == "ready" or age >= STALE_BUILD_AGE
