"""Catalog CSV validation: whole files or nothing, problems named by row number."""

from __future__ import annotations

import pytest

from myretail_rag.catalog.schema import CatalogValidationError, facets, parse_catalog, point_id
from myretail_testkit.rag import HEADER, MINI_ROWS, small_csv


def test_the_sample_catalog_parses_into_one_document_per_product(catalog_products):
    assert len(catalog_products) > 1000
    ids = [product.product_id for product in catalog_products]
    assert len(set(ids)) == len(ids)
    walking = [p for p in catalog_products if p.subcategory == "walking shoes"]
    assert any(p.gender == "men" and p.age_group == "senior" for p in walking)
    document = catalog_products[0].to_document()
    assert document.id == point_id(catalog_products[0].product_id)
    assert catalog_products[0].name in document.page_content
    assert catalog_products[0].description in document.page_content  # never split
    assert document.metadata["price"] == catalog_products[0].price
    assert "walking shoes" in facets(catalog_products)["subcategory"]


def test_point_ids_are_deterministic_per_product():
    assert point_id("MR-000001") == point_id("MR-000001")
    assert point_id("MR-000001") != point_id("MR-000002")


def test_a_small_catalog_parses_with_types():
    products = parse_catalog(small_csv(MINI_ROWS))
    assert [p.product_id for p in products] == ["T-1", "T-2", "T-3", "T-4"]
    assert products[0].price == 79.99 and products[0].sizes == ["8", "9", "10"]
    assert products[3].in_stock is False


def problems(data: bytes) -> list[str]:
    with pytest.raises(CatalogValidationError) as caught:
        parse_catalog(data)
    return caught.value.problems


def test_bad_rows_are_reported_by_row_number_and_nothing_is_returned():
    rows = [
        MINI_ROWS[0],
        MINI_ROWS[1].replace("64.50", "cheap"),
        MINI_ROWS[2].replace("unisex", "robots"),
        MINI_ROWS[3].replace(",4.8,", ",7.5,"),
        MINI_ROWS[0],  # duplicate of row 2
        "T-9,too,few,fields",
    ]
    found = problems(small_csv(rows))
    assert "row 3: price is not a number" in found
    assert any(p.startswith("row 4: gender must be one of") for p in found)
    assert "row 5: rating must be between 0 and 5" in found
    assert "row 6: duplicate product_id T-1 (first on row 2)" in found
    assert "row 7: expected 13 fields, found 4" in found


def test_structural_problems_are_clear():
    assert problems(b"") == ["the file is empty: expected a header row"]
    assert problems(b"name,price\nx,1\n")[0].startswith("row 1: the header lacks column(s)")
    assert problems((HEADER + "\n").encode()) == ["the file has a header but no products"]
    assert problems(b"\xff\xfe\x00binary")[0].startswith("the file is not UTF-8 text")
    assert "malformed CSV" in problems(small_csv(['T-1,"unterminated']))[0]


def test_too_many_products_is_refused():
    with pytest.raises(CatalogValidationError, match="more than 2 products"):
        parse_catalog(small_csv(MINI_ROWS), max_products=2)


def test_error_message_lists_at_most_twenty_problems():
    rows = [MINI_ROWS[0].replace("T-1", f"T-{i}").replace("79.99", "x") for i in range(30)]
    with pytest.raises(CatalogValidationError) as caught:
        parse_catalog(small_csv(rows))
    assert caught.value.total == 30
    assert len(caught.value.problems) == 20
    assert str(caught.value).endswith("and 10 more")
