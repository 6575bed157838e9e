"""Searches in embedded Qdrant: products from memory, the nearest looked at first.

The nearest products come from
:class:`~myretail_rag.catalog.product_cache.ProductCache` (the catalog's products and
vectors, read once per catalog); the nearest 20 are looked at before the nearest 200.
Both shortcuts must find exactly what the plain search finds, and a new catalog must be
seen at once.
"""

from __future__ import annotations

import pytest

from myretail_rag.catalog.loading import load_products
from myretail_rag.catalog.schema import parse_catalog
from myretail_rag.understanding import search as search_module
from myretail_rag.understanding.search import CatalogSearch
from myretail_testkit.rag import MINI_ROWS, SHOPPER_QUESTIONS, small_csv


def top5(search: CatalogSearch) -> list[list[tuple[str, float]]]:
    results = []
    for question in SHOPPER_QUESTIONS:
        parsed = search.parse(question)
        hits = search.search(question, parsed.constraints, 5)
        results.append([(hit.point_id, hit.score) for hit in hits])
    return results


def test_looking_at_the_nearest_first_finds_what_the_full_overfetch_finds(
    store, embedding_model, monkeypatch
):
    nearest_first = top5(CatalogSearch(store, embedding_model))
    # No product is ever "settled": every search looks at the nearest 200.
    monkeypatch.setattr(search_module, "MAX_BONUS", float("inf"))
    assert top5(CatalogSearch(store, embedding_model)) == nearest_first
    assert all(hits for hits in nearest_first), "every question found products"


def test_products_from_memory_are_the_stored_ones(store, embedding_model):
    search = CatalogSearch(store, embedding_model)
    parsed = search.parse(SHOPPER_QUESTIONS[0])
    hits = search.search(SHOPPER_QUESTIONS[0], parsed.constraints, 5)
    stored = store.retrieve([hit.point_id for hit in hits])
    assert [(hit.metadata, hit.content) for hit in hits] == [
        (hit.metadata, hit.content) for hit in stored
    ]


def test_a_new_catalog_is_searched_at_once(store, embedding_model):
    search = CatalogSearch(store, embedding_model)
    before = search.search("walking shoes", search.parse("walking shoes").constraints, 5)
    assert all(hit.metadata["product_id"].startswith("MR-") for hit in before)
    load_products(parse_catalog(small_csv(MINI_ROWS)), store, embedding_model, source="mini")
    after = search.search("walking shoes", search.parse("walking shoes").constraints, 5)
    assert [hit.metadata["product_id"] for hit in after] == ["T-1", "T-2"]


@pytest.mark.parametrize("question", ["a warm sweater for my grandfather", "tell me a joke"])
def test_the_same_search_without_the_cache_agrees(store, embedding_model, question):
    """The products from memory against Qdrant's own filtered search (the server path)."""
    cached = CatalogSearch(store, embedding_model)
    plain = CatalogSearch(store, embedding_model)
    plain.products = None  # as with a Qdrant server: Qdrant filters and returns payloads
    parsed = cached.parse(question)
    vector = embedding_model.embed_query(question)
    mine = cached.search_by_vector(vector, parsed.constraints, 5)
    theirs = plain.search_by_vector(vector, parsed.constraints, 5)
    assert [hit.point_id for hit in mine] == [hit.point_id for hit in theirs]
    assert [hit.score for hit in mine] == pytest.approx([hit.score for hit in theirs], abs=1e-6)
