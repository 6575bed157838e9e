"""What retrieval-only understands: the documented rules, one by one."""

from __future__ import annotations

import pytest

from myretail_rag.understanding.constraints import Constraints, Sort
from myretail_rag.understanding.query_parser import parse_query
from myretail_rag.understanding.vocabulary import Vocabulary

SUBCATEGORIES = [
    "walking shoes",
    "running shoes",
    "dress shoes",
    "dresses",
    "sweaters",
    "headphones",
    "kids shoes",
    "t-shirts",
    "smartwatches",
    "cookware",
    "hiking boots",
    "sneakers",
]
VOCAB = Vocabulary(SUBCATEGORIES, ["footwear", "apparel", "electronics", "home"])


def parse(text: str):
    return parse_query(text, VOCAB)


def test_the_books_example_question():
    parsed = parse("Please suggest walking shoes for a 60 year old man, in a table format")
    c = parsed.constraints
    assert c.subcategories == ("walking shoes",)
    assert c.genders == ("men", "unisex") and c.preferred_gender == "men"
    assert c.age_groups == ("senior", "adult", "all") and c.preferred_age == "senior"
    assert parsed.sort is None and not parsed.is_refinement


@pytest.mark.parametrize(
    ("text", "sort"),
    [
        ("Can you sort the results by price in descending order?", Sort("price", True)),
        ("sort them by price", Sort("price", False)),
        ("order by price, high to low", Sort("price", True)),
        ("cheapest first please", Sort("price", False)),
        ("most expensive first", Sort("price", True)),
        ("sort by rating", Sort("rating", True)),
        ("rank them by rating ascending", Sort("rating", False)),
        ("best rated first", Sort("rating", True)),
    ],
)
def test_orders(text, sort):
    parsed = parse(text)
    assert parsed.sort == sort
    assert parsed.is_refinement


@pytest.mark.parametrize(
    ("text", "low", "high"),
    [
        ("only under $100", None, 100.0),
        ("below 80 dollars", None, 80.0),
        ("less than $1,200", None, 1200.0),
        ("over $50", 50.0, None),
        ("between $40 and $90", 40.0, 90.0),
        ("$30-$60 please", 30.0, 60.0),
        ("at least 25 and at most 75", 25.0, 75.0),
    ],
)
def test_price_bounds(text, low, high):
    c = parse(text).constraints
    assert (c.min_price, c.max_price) == (low, high)
    assert parse(text).is_refinement


@pytest.mark.parametrize(
    ("text", "gender", "age"),
    [
        ("for my grandmother", "women", "senior"),
        ("for a teenager", None, "teen"),
        ("something for my 8 year old son", "kids", "kids"),
        ("for women", "women", None),
        ("for him, he is in his 70s", "men", "senior"),
        ("for an elderly lady", "women", "senior"),
        ("unisex please", "unisex", None),
    ],
)
def test_people(text, gender, age):
    c = parse(text).constraints
    assert c.preferred_gender == gender
    assert c.preferred_age == age


def test_product_types_prefer_the_longest_phrase():
    assert parse("dress shoes for a wedding").constraints.subcategories == ("dress shoes",)
    assert parse("a summer dress").constraints.subcategories == ("dresses",)
    assert parse("shoes for walking").constraints.subcategories == ("walking shoes",)
    shoes = parse("comfortable shoes").constraints.subcategories
    assert set(shoes) == {
        "walking shoes",
        "running shoes",
        "dress shoes",
        "kids shoes",
        "hiking boots",
        "sneakers",
    }
    assert parse("some electronics").constraints.categories == ("electronics",)
    both = parse("a tee and some sneakers").constraints.subcategories
    assert set(both) == {"t-shirts", "sneakers"}
    assert parse("earbuds").constraints.subcategories == ("headphones",)


def test_a_new_product_type_is_not_a_refinement():
    assert not parse("and some sweaters under $50").is_refinement
    assert parse("what about for women?").is_refinement


def test_constraints_filter_and_python_check_agree():
    c = Constraints(
        subcategories=("walking shoes",),
        genders=("men", "unisex"),
        max_price=100.0,
    )
    assert c.matches({"subcategory": "walking shoes", "gender": "unisex", "price": 99.0})
    assert not c.matches({"subcategory": "walking shoes", "gender": "women", "price": 50.0})
    assert not c.matches({"subcategory": "walking shoes", "gender": "men", "price": 100.5})
    flt = c.to_filter()
    assert flt is not None and len(flt.must) == 3  # type: ignore[arg-type]
    assert Constraints().to_filter() is None


def test_merging_replaces_only_what_the_newer_message_says():
    first = parse("walking shoes for a 60 year old man").constraints
    merged = first.merged(parse("under $90").constraints)
    assert merged.subcategories == ("walking shoes",)
    assert merged.preferred_gender == "men" and merged.max_price == 90.0
    women = merged.merged(parse("for women").constraints)
    assert women.preferred_gender == "women" and women.preferred_age == "senior"
    assert Constraints.from_dict(women.to_dict()) == women
