"""The catalog taxonomy, declared once: CSV columns, categories, product types, genders, ages.

The catalog schema validates rows against it, the query parser keys its words by it, the
sample-data generator (``data/generate_catalog.py``) builds the sample catalog from it and
the tests check the data against it. A shop may load a catalog with other categories or
product types (only genders and age groups are enforced); the parser then knows those by
their own names.

Standard library only: the generator imports it without the service's dependencies.
"""

from __future__ import annotations

#: The catalog CSV's columns, in the order the sample catalog writes them.
COLUMNS = (
    "product_id",
    "name",
    "brand",
    "category",
    "subcategory",
    "gender",
    "age_group",
    "price",
    "rating",
    "color",
    "sizes",
    "description",
    "in_stock",
)

#: Who a product is for.
GENDERS = ("men", "women", "unisex", "kids")
AGE_GROUPS = ("adult", "senior", "teen", "kids", "all")

#: Product types (subcategories) per category, in the sample catalog's order.
PRODUCT_TYPES: dict[str, tuple[str, ...]] = {
    "footwear": (
        "walking shoes",
        "running shoes",
        "hiking boots",
        "sandals",
        "dress shoes",
        "sneakers",
        "slippers",
    ),
    "apparel": ("t-shirts", "jackets", "jeans", "dresses", "sweaters", "activewear", "socks"),
    "electronics": ("headphones", "smartwatches", "phone accessories", "speakers", "laptop bags"),
    "home": ("cookware", "bedding", "lighting", "kitchen appliances"),
    "beauty": ("skincare", "haircare", "fragrance"),
    "sports": ("yoga", "cycling", "camping", "fitness equipment"),
    "kids": ("toys", "kids shoes", "school bags"),
    "accessories": ("handbags", "sunglasses", "hats"),
}
CATEGORIES = tuple(PRODUCT_TYPES)
SUBCATEGORIES = tuple(name for names in PRODUCT_TYPES.values() for name in names)

#: The fields a shopper filters on: recorded per collection, indexed on a Qdrant server.
FACET_FIELDS = ("category", "subcategory", "gender", "age_group")


def category_of(subcategory: str) -> str:
    """The category a product type belongs to."""
    for category, names in PRODUCT_TYPES.items():
        if subcategory in names:
            return category
    raise KeyError(f"{subcategory!r} is not a product type of the catalog taxonomy")
