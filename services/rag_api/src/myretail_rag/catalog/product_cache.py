"""The live catalog held in memory, for searches when Qdrant is embedded.

Embedded Qdrant (qdrant-client's local mode) is a brute-force search in Python: each call
costs ~0.6 ms of interpreter work around a ~0.05 ms matrix product, and it deep-copies the
payload of every point it returns (over-fetching 200 candidates to check the shopper's
constraints cost ~12 ms a search). Under concurrent load that interpreter time was the
largest share of a request's. :class:`ProductCache` reads the catalog once per catalog
version (one scroll: payloads and vectors) and answers "the nearest products" with one
matrix product and a partial sort; the scores are Qdrant's cosine similarities (the stored
vectors and the query are unit length, so cosine is their dot product).

A Qdrant server filters with its payload indexes and returns a few payloads, so it needs
none of this. Embedded Qdrant locks its folder to one process, so the catalog can only
change through this process, and a version check per search sees every change at once.

A catalog version is the live collection's metadata (when it was created and loaded, its
digest), as :meth:`CatalogStore.check_compatible` reports it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from myretail_rag.catalog.vector_store import CONTENT_KEY, METADATA_KEY, CatalogStore, Hit

Product = tuple[dict[str, Any], str]  # metadata, page content


def catalog_version(metadata: dict[str, Any]) -> str:
    """What tells one catalog (a collection, loaded once) from another."""
    return ":".join(
        str(metadata.get(key)) for key in ("created_at", "loaded_at", "digest", "products")
    )


@dataclass(frozen=True)
class CatalogCopy:
    """One catalog version: point ids, products and unit vectors, row by row."""

    version: str
    point_ids: list[str]
    products: list[Product]
    vectors: np.ndarray  # float32, one row per product

    def nearest(self, vector: list[float], limit: int) -> list[tuple[int, float]]:
        """(row, similarity) of the ``limit`` products nearest to ``vector``, best first."""
        limit = min(limit, len(self.point_ids))
        if limit <= 0:
            return []
        scores = self.vectors @ np.asarray(vector, dtype=np.float32)
        rows = np.argpartition(-scores, limit - 1)[:limit]
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        return [(int(row), float(scores[row])) for row in rows]


class ProductCache:
    """The live catalog's products and vectors, read once per catalog version."""

    def __init__(self, store: CatalogStore) -> None:
        self.store = store
        self._copy: CatalogCopy | None = None
        self._lock = threading.Lock()

    def catalog(self) -> CatalogCopy:
        """The live catalog (read again when its version changed)."""
        version = catalog_version(self.store.check_compatible())
        copy = self._copy
        if copy is not None and copy.version == version:
            return copy
        with self._lock:  # one reader; the others wait for its copy
            if self._copy is None or self._copy.version != version:
                self._copy = self._read(version)
            return self._copy

    def _read(self, version: str) -> CatalogCopy:
        point_ids: list[str] = []
        products: list[Product] = []
        vectors: list[Any] = []
        for page in self.store.scroll(self.store.alias, with_vectors=True):
            for record in page:
                point_ids.append(str(record.id))
                products.append(_product(record.payload or {}))
                vectors.append(record.vector)
        if not point_ids:  # an empty collection: searches find nothing, as Qdrant's would
            return CatalogCopy(version, [], [], np.zeros((0, 0), dtype=np.float32))
        return CatalogCopy(version, point_ids, products, np.asarray(vectors, dtype=np.float32))

    def nearest(
        self, vector: list[float], limit: int, keep: Callable[[dict[str, Any]], bool]
    ) -> tuple[list[Hit], int, float]:
        """Of the ``limit`` products nearest to ``vector``, those whose metadata ``keep``
        accepts, best first; how many were looked at, and the similarity of the farthest."""
        catalog = self.catalog()
        scored = catalog.nearest(vector, limit)
        hits = []
        for row, score in scored:
            metadata, content = catalog.products[row]
            if keep(metadata):
                hits.append(Hit(catalog.point_ids[row], dict(metadata), content, score))
        return hits, len(scored), scored[-1][1] if scored else 0.0


def _product(payload: dict[str, Any]) -> Product:
    return dict(payload.get(METADATA_KEY) or {}), str(payload.get(CONTENT_KEY) or "")
