"""Catalog search: embed the query, apply the shopper's constraints, rank.

Constraints (see :mod:`myretail_rag.understanding.query_parser`) are hard filters;
preferences (the exact gender or age group asked for) nudge the ranking. On a Qdrant
server the filter goes to Qdrant, served by the payload indexes. Embedded Qdrant
evaluates filters in Python over every point, which costs ~0.3 s at 20,000 products, so
there the nearest ``overfetch`` products are fetched unfiltered and checked here; only
when too few pass does the filtered Qdrant search run. Both paths apply the same rules
(:meth:`Constraints.matches` mirrors :meth:`Constraints.to_filter`).

:class:`myretail_rag.conversation.retriever.CatalogRetriever` is the same search as a
LangChain retriever for the chain.
"""

from __future__ import annotations

import threading

from myretail_rag.catalog.embeddings import EmbeddingModel
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
# When nothing matches, constraints are dropped in this order (never the price bounds).
RELAXATION = (("age_groups",), ("genders",), ("subcategories", "categories"))


class CatalogSearch:
    """Constraint-aware nearest-product search over the catalog collection."""

    def __init__(
        self, store: CatalogStore, embeddings: EmbeddingModel, overfetch: int = 200
    ) -> None:
        self.store = store
        self.embeddings = embeddings
        self.overfetch = overfetch
        self.langchain_store = store.langchain_store(embeddings)
        self._vocabulary: tuple[str, Vocabulary] | None = None
        self._lock = threading.Lock()

    # -- query understanding ---------------------------------------------------------------

    def vocabulary(self) -> Vocabulary:
        """The catalog's product types and categories (from the collection's metadata)."""
        metadata = self.store.check_compatible()
        key = f"{metadata.get('created_at')}:{metadata.get('digest')}"
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
        return self.embeddings.embed_query(text)

    def search(self, text: str, constraints: Constraints, k: int) -> list[Hit]:
        """The ``k`` best products for ``text`` under ``constraints``, best first."""
        self.store.check_compatible()
        vector = self.embed(text)
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
        if constraints.is_empty():
            return self.store.search(self.langchain_store, vector, want)
        if not self.store.indexed_filters:
            candidates = self.store.search(self.langchain_store, vector, self.overfetch)
            matched = [hit for hit in candidates if constraints.matches(hit.metadata)]
            if len(matched) >= k or len(candidates) < self.overfetch:
                return matched
        return self.store.search(self.langchain_store, vector, want, constraints.to_filter())


def rank(hits: list[Hit], constraints: Constraints) -> list[Hit]:
    """Similarity, nudged towards the exact gender and age group asked for."""

    def score(hit: Hit) -> float:
        value = hit.score
        if constraints.preferred_gender and hit.metadata.get("gender") == (
            constraints.preferred_gender
        ):
            value += GENDER_BONUS
        if constraints.preferred_age and hit.metadata.get("age_group") == (
            constraints.preferred_age
        ):
            value += AGE_BONUS
        if hit.metadata.get("in_stock"):
            value += STOCK_BONUS
        return value

    return sorted(hits, key=score, reverse=True)
