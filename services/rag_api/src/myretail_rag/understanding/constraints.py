"""What a search must satisfy (:class:`Constraints`) and how its results are ordered
(:class:`Sort`).

Constraints are hard filters (allowed values, price bounds) plus soft preferences for
ranking. The same constraints become a Qdrant filter (served by payload indexes on a Qdrant
server) or are checked in Python over over-fetched candidates (embedded Qdrant scans
filters in Python, which is slow at scale): :meth:`Constraints.matches` mirrors
:meth:`Constraints.to_filter`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal

from qdrant_client import models

from myretail_rag.catalog.vector_store import METADATA_KEY


@dataclass(frozen=True)
class Constraints:
    """Hard filters (allowed values, price bounds) and soft preferences for ranking."""

    subcategories: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    genders: tuple[str, ...] = ()
    preferred_gender: str | None = None
    age_groups: tuple[str, ...] = ()
    preferred_age: str | None = None
    min_price: float | None = None
    max_price: float | None = None

    def field_values(self) -> dict[str, Any]:
        """Field name -> value (``dataclasses.asdict`` without its deep copies, which
        cost more than the rest of a retrieval-only answer's bookkeeping)."""
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def is_empty(self) -> bool:
        return self == Constraints()

    @property
    def has_person(self) -> bool:
        return bool(self.genders or self.age_groups)

    def merged(self, newer: Constraints) -> Constraints:
        """These constraints with every field ``newer`` sets replaced by ``newer``'s."""
        values = self.field_values()
        for key, value in newer.field_values().items():
            if value not in ((), None):
                values[key] = tuple(value) if isinstance(value, list) else value
        if newer.subcategories and not newer.categories:
            values["categories"] = ()
        if newer.categories and not newer.subcategories:
            values["subcategories"] = ()
        return Constraints(**values)

    def person_only(self) -> Constraints:
        return Constraints(
            genders=self.genders,
            preferred_gender=self.preferred_gender,
            age_groups=self.age_groups,
            preferred_age=self.preferred_age,
        )

    def without(self, *names: str) -> Constraints:
        cleared: dict[str, Any] = {}
        for name in names:
            cleared[name] = () if isinstance(getattr(self, name), tuple) else None
            if name == "genders":
                cleared["preferred_gender"] = None
            if name == "age_groups":
                cleared["preferred_age"] = None
        return replace(self, **cleared)

    def matches(self, metadata: dict[str, Any]) -> bool:
        """Whether a product's metadata passes the hard filters (same as :meth:`to_filter`)."""
        checks: list[tuple[tuple[str, ...], str]] = [
            (self.subcategories, "subcategory"),
            (self.categories, "category"),
            (self.genders, "gender"),
            (self.age_groups, "age_group"),
        ]
        for allowed, key in checks:
            if allowed and metadata.get(key) not in allowed:
                return False
        price = metadata.get("price")
        if self.min_price is not None or self.max_price is not None:
            if not isinstance(price, int | float):
                return False
            if self.min_price is not None and price < self.min_price:
                return False
            if self.max_price is not None and price > self.max_price:
                return False
        return True

    def to_filter(self) -> models.Filter | None:
        """The Qdrant filter of the hard constraints (None when there are none)."""
        must: list[Any] = []
        for allowed, key in (
            (self.subcategories, "subcategory"),
            (self.categories, "category"),
            (self.genders, "gender"),
            (self.age_groups, "age_group"),
        ):
            if allowed:
                must.append(
                    models.FieldCondition(
                        key=f"{METADATA_KEY}.{key}", match=models.MatchAny(any=list(allowed))
                    )
                )
        if self.min_price is not None or self.max_price is not None:
            must.append(
                models.FieldCondition(
                    key=f"{METADATA_KEY}.price",
                    range=models.Range(gte=self.min_price, lte=self.max_price),
                )
            )
        return models.Filter(must=must) if must else None

    def describe(self) -> str:
        """A short phrase: "walking shoes, for men, senior, under $100"."""
        parts: list[str] = []
        if self.subcategories:
            parts.append(" or ".join(self.subcategories))
        elif self.categories:
            parts.append(" or ".join(self.categories))
        if self.preferred_gender and self.preferred_gender != "unisex":
            parts.append(f"for {self.preferred_gender}")
        elif self.genders == ("unisex",):
            parts.append("unisex")
        if self.preferred_age and self.preferred_age not in ("all", "adult"):
            parts.append(
                {"senior": "senior-friendly", "kids": "for kids", "teen": "for teens"}[
                    self.preferred_age
                ]
            )
        if self.min_price is not None and self.max_price is not None:
            parts.append(f"${self.min_price:g}-${self.max_price:g}")
        elif self.max_price is not None:
            parts.append(f"up to ${self.max_price:g}")
        elif self.min_price is not None:
            parts.append(f"from ${self.min_price:g}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in self.field_values().items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Constraints:
        if not data:
            return cls()
        known = {field.name: data[field.name] for field in fields(cls) if field.name in data}
        for key, value in known.items():
            if isinstance(value, list):
                known[key] = tuple(str(item) for item in value)
        return cls(**known)


SortField = Literal["price", "rating"]


@dataclass(frozen=True)
class Sort:
    field: SortField
    descending: bool

    def describe(self) -> str:
        if self.field == "price":
            return "by price, highest first" if self.descending else "by price, lowest first"
        return "by rating, highest first" if self.descending else "by rating, lowest first"

    def apply(self, items: list[Any], key: Any) -> list[Any]:
        return sorted(items, key=lambda item: key(item, self.field), reverse=self.descending)

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "descending": self.descending}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Sort | None:
        if not data or data.get("field") not in ("price", "rating"):
            return None
        return cls(field=data["field"], descending=bool(data.get("descending")))
