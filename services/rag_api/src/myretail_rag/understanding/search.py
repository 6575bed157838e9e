"""Catalog search: embed the query, apply the shopper's constraints, rank.

Constraints (see :mod:`myretail_rag.understanding.query_parser`) are hard filters;
preferences (the exact gender or age group asked for) nudge the ranking. On a Qdrant
server the filter goes to Qdrant, served by the payload indexes. Embedded Qdrant
evaluates filters in Python over every point, which costs ~0.3 s at 20,000 products, so
there the nearest ``overfetch`` products are found in the catalog's copy in memory
(:class:`~myretail_rag.catalog.product_cache.ProductCache`) and checked here; only when
too few pass does the filtered Qdrant search run. Both paths apply the same rules
(:meth:`Constraints.matches` mirrors :meth:`Constraints.to_filter`).

The question is embedded by the :class:`~myretail_rag.catalog.query_batcher.QueryBatcher`
when one is given (the service's: questions of concurrent requests share model calls),
else by the model directly. :meth:`CatalogSearch.asearch` is the search for the event
loop: the embedding is awaited, Qdrant is asked from a worker thread.

:class:`myretail_rag.conversation.retriever.CatalogRetriever` is the same search as a
LangChain retriever for the chain.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

from myretail_rag.catalog.embeddings import EmbeddingModel
from myretail_rag.catalog.product_cache import ProductCache, catalog_version
from myretail_rag.catalog.query_batcher import QueryBatcher
from myretail_rag.catalog.vector_store import (
    EMPTY_CATALOG,
    CatalogEmptyError,
    CatalogStore,
    Hit,
)
from myretail_rag.understanding.constraints import Constraints
from myretail_rag.understanding.query_parser import ParsedQuery, parse_query
from myretail_rag.understanding.vocabulary import Vocabulary

GENDER_BONUS = 0.04
AGE_BONUS = 0.04
STOCK_BONUS = 0.01
MAX_BONUS = GENDER_BONUS + AGE_BONUS + STOCK_BONUS
# When nothing matches, constraints are dropped in this order (never the price bounds).
RELAXATION = (("age_groups",), ("genders",), ("subcategories", "categories"))


class CatalogSearch:
    """Constraint-aware nearest-product search over the catalog collection."""

    def __init__(
        self,
        store: CatalogStore,
        embeddings: EmbeddingModel,
        overfetch: int = 200,
        batcher: QueryBatcher | None = None,
        on_search: Callable[[int, float], None] | None = None,
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.overfetch = overfetch
        self.batcher = batcher
        self.on_search = on_search  # (products found, seconds) of each search (metrics)
        self.langchain_store = store.langchain_store(embeddings)
        self.products = None if store.indexed_filters else ProductCache(store)
        self._vocabulary: tuple[str, Vocabulary] | None = None
        self._lock = threading.Lock()

    # -- query understanding ---------------------------------------------------------------

    def vocabulary(self) -> Vocabulary:
        """The catalog's product types and categories (from the collection's metadata)."""
        metadata = self.store.check_compatible()
        key = catalog_version(metadata)
        with self._lock:
            if self._vocabulary is None or self._vocabulary[0] != key:
                found = metadata.get("facets") or {}
                self._vocabulary = (
                    key,
                    Vocabulary(found.get("subcategory", []), found.get("category", [])),
                )
            return self._vocabulary[1]

    def parse(self, text: str) -> ParsedQuery:
        return parse_query(text, self.vocabulary())

    # -- search ----------------------------------------------------------------------------

    def embed(self, text: str) -> list[float]:
        """The question's vector (from a worker thread: this waits for its batch)."""
        if self.batcher is not None:
            return self.batcher.embed_blocking(text)
        return self.embeddings.embed_query(text)

    async def aembed(self, text: str) -> list[float]:
        """The question's vector, awaited (the model never runs on the event loop)."""
        if self.batcher is not None:
            return await self.batcher.embed(text)
        return await asyncio.to_thread(self.embeddings.embed_query, text)

    def search(self, text: str, constraints: Constraints, k: int) -> list[Hit]:
        """The ``k`` best products for ``text`` under ``constraints``, best first."""
        self.store.check_compatible()
        return self.search_by_vector(self.embed(text), constraints, k)

    async def asearch(self, text: str, constraints: Constraints, k: int) -> list[Hit]:
        """:meth:`search` for the event loop."""
        vector = await self.aembed(text)
        return await asyncio.to_thread(self.search_by_vector, vector, constraints, k)

    def search_by_vector(self, vector: list[float], constraints: Constraints, k: int) -> list[Hit]:
        """The ``k`` best products near ``vector`` under ``constraints``, best first."""
        started = time.perf_counter()
        hits = self._search_by_vector(vector, constraints, k)
        if self.on_search is not None:
            self.on_search(len(hits), time.perf_counter() - started)
        return hits

    def _search_by_vector(self, vector: list[float], constraints: Constraints, k: int) -> list[Hit]:
        self.store.check_compatible()
        hits = self._filtered(vector, constraints, k)
        relaxed = constraints
        for names in RELAXATION:
            if hits:
                break
            relaxed = relaxed.without(*names)
            hits = self._filtered(vector, relaxed, k)
        if not hits and self.store.count() == 0:  # an alias on an empty collection
            raise CatalogEmptyError(f"catalog is {EMPTY_CATALOG}")
        return rank(hits, constraints)[:k]

    def _filtered(self, vector: list[float], constraints: Constraints, k: int) -> list[Hit]:
        want = max(k * 4, 20)
        if self.products is not None:  # embedded Qdrant: check the constraints here
            matched = self._nearest_matching(self.products, vector, constraints, k, want)
            if matched is not None:
                return matched
        return self.store.search(self.langchain_store, vector, want, constraints.to_filter())

    def _nearest_matching(
        self,
        products: ProductCache,
        vector: list[float],
        constraints: Constraints,
        k: int,
        want: int,
    ) -> list[Hit] | None:
        """Of the nearest ``overfetch`` products, those that pass ``constraints``; None
        when fewer than ``k`` do (then Qdrant's filtered search has to find them).

        The nearest ``want`` are looked at first: when they hold ``k`` matches that no
        product further away can overtake, even with every ranking bonus, the rest cannot
        change the top ``k`` and are not fetched (most searches end there)."""
        if constraints.is_empty():
            return products.nearest(vector, want, constraints.matches)[0]
        limit = min(want, self.overfetch)
        while True:
            matched, seen, farthest = products.nearest(vector, limit, constraints.matches)
            if seen < limit:  # the whole catalog was looked at
                return matched
            if len(matched) >= k and farthest + MAX_BONUS < kth_best(matched, constraints, k):
                return matched
            if limit >= self.overfetch:
                return matched if len(matched) >= k else None
            limit = self.overfetch


def ranking_score(hit: Hit, constraints: Constraints) -> float:
    """Similarity, nudged towards the exact gender and age group asked for and stock."""
    value = hit.score
    if constraints.preferred_gender and hit.metadata.get("gender") == (
        constraints.preferred_gender
    ):
        value += GENDER_BONUS
    if constraints.preferred_age and hit.metadata.get("age_group") == constraints.preferred_age:
        value += AGE_BONUS
    if hit.metadata.get("in_stock"):
        value += STOCK_BONUS
    return value


def kth_best(hits: list[Hit], constraints: Constraints, k: int) -> float:
    """The ``k``-th best ranking score among ``hits`` (at least ``k`` of them)."""
    return sorted((ranking_score(hit, constraints) for hit in hits), reverse=True)[k - 1]


def rank(hits: list[Hit], constraints: Constraints) -> list[Hit]:
    """Best ranking score first (ties keep the similarity order)."""
    return sorted(hits, key=lambda hit: ranking_score(hit, constraints), reverse=True)
