"""The product catalog CSV: parsing, row-numbered validation, one document per product.

A catalog is loaded whole or not at all: :func:`parse_catalog` reads every row and
raises :class:`CatalogValidationError` listing the problems by row number (the header is
row 1) before anything is written. Each product becomes exactly one LangChain
:class:`Document` (never split) with a deterministic point id derived from its
``product_id``, so loading the same product again updates it instead of duplicating it.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from langchain_core.documents import Document

from myretail_rag.catalog.taxonomy import AGE_GROUPS, COLUMNS, FACET_FIELDS, GENDERS

MAX_REPORTED_ERRORS = 20
MAX_FIELD_CHARS = 4000
_POINT_NAMESPACE = uuid.UUID("5b0b4f4e-6f1d-4f0a-9a52-6d7972657461")  # "myretail" products
_PRODUCT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}")  # the whole value: fullmatch
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}

_GENDER_WORDS = {"men": "men", "women": "women", "unisex": "everyone (unisex)", "kids": "kids"}
_AGE_WORDS = {
    "adult": "adults",
    "senior": "seniors and older adults",
    "teen": "teens",
    "kids": "children",
    "all": "all ages",
}


class CatalogValidationError(ValueError):
    """The CSV is not a valid catalog; ``problems`` names each by row number."""

    def __init__(self, problems: list[str], total: int | None = None) -> None:
        self.problems = problems[:MAX_REPORTED_ERRORS]
        self.total = total if total is not None else len(problems)
        more = self.total - len(self.problems)
        summary = "; ".join(self.problems) + (f"; and {more} more" if more > 0 else "")
        super().__init__(f"invalid catalog: {summary}")


def point_id(product_id: str) -> str:
    """The Qdrant point id of a product: a UUID5 of its product_id."""
    return str(uuid.uuid5(_POINT_NAMESPACE, product_id))


@dataclass(frozen=True)
class Product:
    product_id: str
    name: str
    brand: str
    category: str
    subcategory: str
    gender: str
    age_group: str
    price: float
    rating: float
    color: str
    sizes: list[str] = field(default_factory=list)
    description: str = ""
    in_stock: bool = True

    @property
    def point_id(self) -> str:
        return point_id(self.product_id)

    def text(self) -> str:
        """The text that is embedded: what a shopper would search for, in words."""
        stock = "In stock" if self.in_stock else "Out of stock"
        return (
            f"{self.name}. {self.description} "
            f"Category: {self.subcategory} ({self.category}) by {self.brand}, "
            f"for {_GENDER_WORDS.get(self.gender, self.gender)}, "
            f"suited to {_AGE_WORDS.get(self.age_group, self.age_group)}. "
            f"Colour {self.color}. Price ${self.price:.2f}. Rated {self.rating:.1f} of 5. {stock}."
        )

    def metadata(self) -> dict[str, Any]:
        return {
            "product_id": self.product_id,
            "name": self.name,
            "brand": self.brand,
            "category": self.category,
            "subcategory": self.subcategory,
            "gender": self.gender,
            "age_group": self.age_group,
            "price": self.price,
            "rating": self.rating,
            "color": self.color,
            "sizes": list(self.sizes),
            "description": self.description,
            "in_stock": self.in_stock,
        }

    def to_document(self) -> Document:
        return Document(page_content=self.text(), metadata=self.metadata(), id=self.point_id)


def _clean(value: str | None) -> str:
    return (value or "").strip()


def _parse_row(row: dict[str, str], problems: list[str], line: int) -> Product | None:
    def bad(message: str) -> None:
        problems.append(f"row {line}: {message}")

    errors_before = len(problems)
    values = {column: _clean(row.get(column)) for column in COLUMNS}
    for column, value in values.items():
        if len(value) > MAX_FIELD_CHARS:
            bad(f"{column} is longer than {MAX_FIELD_CHARS} characters")
    for column in ("product_id", "name", "category", "subcategory"):
        if not values[column]:
            bad(f"{column} is empty")
    if values["product_id"] and not _PRODUCT_ID.fullmatch(values["product_id"]):
        bad("product_id must be 1-64 letters, digits or ._:/- characters")
    gender = values["gender"].lower()
    if gender not in GENDERS:
        bad(f"gender must be one of {', '.join(GENDERS)}")
    age_group = values["age_group"].lower()
    if age_group not in AGE_GROUPS:
        bad(f"age_group must be one of {', '.join(AGE_GROUPS)}")
    price = _number(values["price"], "price", bad)
    if price is not None and not (0 < price < 1_000_000):
        bad("price must be a number greater than 0")
    rating = _number(values["rating"] or "0", "rating", bad)
    if rating is not None and not (0 <= rating <= 5):
        bad("rating must be between 0 and 5")
    stock = values["in_stock"].lower() or "true"
    if stock not in _TRUE | _FALSE:
        bad("in_stock must be true or false")
    if len(problems) > errors_before or price is None or rating is None:
        return None
    sizes = [size.strip() for size in values["sizes"].split("|") if size.strip()]
    return Product(
        product_id=values["product_id"],
        name=values["name"],
        brand=values["brand"],
        category=values["category"].lower(),
        subcategory=values["subcategory"].lower(),
        gender=gender,
        age_group=age_group,
        price=round(price, 2),
        rating=round(rating, 2),
        color=values["color"],
        sizes=sizes,
        description=values["description"],
        in_stock=stock in _TRUE,
    )


def _number(text: str, column: str, bad: Any) -> float | None:
    try:
        value = float(text.replace("$", "").replace(",", ""))
    except ValueError:
        bad(f"{column} is not a number")
        return None
    if value != value or value in (float("inf"), float("-inf")):
        bad(f"{column} is not a number")
        return None
    return value


def parse_catalog(data: bytes | str, max_products: int | None = None) -> list[Product]:
    """Every product of a catalog CSV, or :class:`CatalogValidationError`."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CatalogValidationError(
                [f"the file is not UTF-8 text (byte {exc.start} cannot be decoded)"]
            ) from exc
    else:
        text = data
    if "\x00" in text:
        raise CatalogValidationError(["the file is binary, not CSV text"])
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CatalogValidationError([f"row 1: malformed CSV ({exc})"]) from exc
    if not header or not any(cell.strip() for cell in header):
        raise CatalogValidationError(["the file is empty: expected a header row"])
    columns = [cell.strip().lower() for cell in header]
    missing = [column for column in COLUMNS if column not in columns]
    if missing:
        raise CatalogValidationError([f"row 1: the header lacks column(s) {', '.join(missing)}"])
    duplicated = sorted({column for column in columns if columns.count(column) > 1})
    if duplicated:
        raise CatalogValidationError([f"row 1: duplicate column(s) {', '.join(duplicated)}"])

    problems: list[str] = []
    products: list[Product] = []
    first_seen: dict[str, int] = {}
    line = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(f"row {line + 1}: malformed CSV ({exc})")
            break
        line += 1
        if not any(cell.strip() for cell in cells):
            continue  # blank lines are allowed
        if len(cells) != len(columns):
            problems.append(f"row {line}: expected {len(columns)} fields, found {len(cells)}")
            continue
        if max_products is not None and len(products) >= max_products:
            problems.append(f"row {line}: more than {max_products} products (LOAD_MAX_PRODUCTS)")
            break
        product = _parse_row(dict(zip(columns, cells, strict=True)), problems, line)
        if product is None:
            continue
        if product.product_id in first_seen:
            problems.append(
                f"row {line}: duplicate product_id {product.product_id} "
                f"(first on row {first_seen[product.product_id]})"
            )
            continue
        first_seen[product.product_id] = line
        products.append(product)
    if problems:
        raise CatalogValidationError(problems)
    if not products:
        raise CatalogValidationError(["the file has a header but no products"])
    return products


def facets(products: list[Product]) -> dict[str, list[str]]:
    """The distinct values of the facet fields (recorded in the collection's metadata)."""
    return {
        name: sorted({str(getattr(product, name)) for product in products}) for name in FACET_FIELDS
    }
