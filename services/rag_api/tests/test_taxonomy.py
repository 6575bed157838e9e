"""The catalog taxonomy, declared once, and what the query rules and schema make of it."""

from __future__ import annotations

import pytest

from myretail_rag.catalog import taxonomy
from myretail_rag.catalog.schema import CatalogValidationError, parse_catalog
from myretail_rag.understanding.query_parser import parse_query
from myretail_rag.understanding.vocabulary import Vocabulary, keyed_by
from myretail_testkit.rag import HEADER, MINI_ROWS, small_csv

FULL = Vocabulary(taxonomy.SUBCATEGORIES, taxonomy.CATEGORIES)


def test_every_product_type_belongs_to_exactly_one_category():
    assert len(set(taxonomy.SUBCATEGORIES)) == len(taxonomy.SUBCATEGORIES)
    for category, names in taxonomy.PRODUCT_TYPES.items():
        for name in names:
            assert taxonomy.category_of(name) == category
    with pytest.raises(KeyError, match="not a product type"):
        taxonomy.category_of("spaceships")


def test_the_test_catalog_header_is_the_taxonomy_columns():
    assert HEADER.split(",") == list(taxonomy.COLUMNS)


@pytest.mark.parametrize("name", taxonomy.SUBCATEGORIES)
def test_every_product_type_is_understood_by_its_name(name):
    assert parse_query(f"I want {name}", FULL).constraints.subcategories == (name,)


@pytest.mark.parametrize("name", taxonomy.CATEGORIES)
def test_every_category_is_understood_by_its_name(name):
    assert parse_query(f"show me {name}", FULL).constraints.categories == (name,)


def test_shoes_mean_every_shoe_type_of_the_taxonomy():
    shoes = parse_query("comfortable shoes", FULL).constraints.subcategories
    footwear = set(taxonomy.PRODUCT_TYPES["footwear"])
    assert set(shoes) == footwear | {"kids shoes"}


def test_words_for_names_outside_the_taxonomy_are_refused():
    with pytest.raises(ValueError, match=r"unknown product type .*: walking sneakers"):
        keyed_by(taxonomy.SUBCATEGORIES, "product type", {"walking sneakers": ("sneaker",)})
    assert keyed_by(taxonomy.GENDERS, "gender", {"men": 1}) == {"men": 1}


def test_the_schema_accepts_exactly_the_taxonomy_genders_and_age_groups():
    row = MINI_ROWS[0]  # a men's senior product
    for gender in taxonomy.GENDERS:
        for age_group in taxonomy.AGE_GROUPS:
            variant = row.replace(",men,senior,", f",{gender},{age_group},")
            (product,) = parse_catalog(small_csv([variant]))
            assert (product.gender, product.age_group) == (gender, age_group)
    with pytest.raises(CatalogValidationError, match="gender must be one of men, women"):
        parse_catalog(small_csv([row.replace(",men,senior,", ",robots,senior,")]))
    with pytest.raises(CatalogValidationError, match="age_group must be one of adult, senior"):
        parse_catalog(small_csv([row.replace(",men,senior,", ",men,ancient,")]))
