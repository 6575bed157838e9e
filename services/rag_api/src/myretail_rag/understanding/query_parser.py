"""What a shopper's words ask for: product types, who it is for, price bounds, an order.

A small, documented rule set (no model): it turns "walking shoes for a 60 year old man
under $120, cheapest first" into constraints (subcategory walking shoes; gender men or
unisex, preferring men; age senior/adult/all, preferring senior; price at most 120) and a
sort (price ascending). The words are :mod:`myretail_rag.understanding.vocabulary`'s.
README.md lists exactly what is understood.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from myretail_rag.catalog.taxonomy import AGE_GROUPS, GENDERS
from myretail_rag.understanding.constraints import Constraints, Sort, SortField
from myretail_rag.understanding.vocabulary import (
    ADULT_WORDS,
    ASCENDING_PHRASES,
    DESCENDING_PHRASES,
    GENDER_WORDS,
    KID_AGE_WORDS,
    PRICE_WORDS,
    RATING_WORDS,
    REFERS_BACK_WORDS,
    SENIOR_WORDS,
    SORT_VERBS,
    TEEN_WORDS,
    Vocabulary,
    keyed_by,
    singular,
    tokens,
)

_NUMBER = r"(\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d{1,7}(?:\.\d{1,2})?)"
_MONEY = r"\$?\s*" + _NUMBER + r"\s*(?:\$|dollars?|usd|bucks)?"
_MAX_PRICE = re.compile(
    r"\b(?:under|below|less than|cheaper than|max(?:imum)?|up to|at most|no more than|"
    r"within|budget(?: of)?|not more than|lower than)\s*" + _MONEY
)
_MIN_PRICE = re.compile(
    r"\b(?:over|above|more than|at least|min(?:imum)?|starting at|upwards of|higher than)\s*"
    + _MONEY
)
_RANGE = re.compile(r"\bbetween\s*" + _MONEY + r"\s*(?:and|-|to)\s*" + _MONEY)
_DASH_RANGE = re.compile(r"\$\s*" + _NUMBER + r"\s*(?:-|to)\s*\$?\s*" + _NUMBER)
_AGE_NUMBER = re.compile(
    r"\b(\d{1,3})\s*(?:-|\s)?\s*(?:years?|yrs?|yr)\s*(?:-|\s)?\s*old\b"
    r"|\baged?\s*(\d{1,3})\b|\b(\d{1,3})\s*yo\b|\bin (?:his|her|their) (\d)0s\b"
    r"|\b(\d{1,3})(?:th)? birthday\b"
)


@dataclass(frozen=True)
class ParsedQuery:
    """What one message asks for."""

    text: str
    constraints: Constraints = field(default_factory=Constraints)
    sort: Sort | None = None
    refers_back: bool = False

    @property
    def names_product(self) -> bool:
        return bool(self.constraints.subcategories or self.constraints.categories)

    @property
    def has_price(self) -> bool:
        return self.constraints.min_price is not None or self.constraints.max_price is not None

    @property
    def is_refinement(self) -> bool:
        """A structured follow-up on the previous result: an order, a price bound or a person
        (with words that point back), and no new product type."""
        if self.names_product:
            return False
        if self.sort is not None or self.has_price:
            return True
        return self.constraints.has_person and (self.refers_back or len(tokens(self.text)) <= 6)


def _age_group(age: int) -> str:
    if age < 13:
        return "kids"
    if age < 20:
        return "teen"
    if age < 55:
        return "adult"
    return "senior"


#: The age groups and genders of products for a person (the exact one is preferred).
_AGE_ALLOWED = keyed_by(
    AGE_GROUPS,
    "age group",
    {
        "senior": ("senior", "adult", "all"),
        "adult": ("adult", "senior", "all"),
        "teen": ("teen", "adult", "all"),
        "kids": ("kids", "all"),
    },
)
_GENDER_ALLOWED = keyed_by(
    GENDERS,
    "gender",
    {
        "men": ("men", "unisex"),
        "women": ("women", "unisex"),
        "kids": ("kids", "unisex"),
        "unisex": ("unisex",),
    },
)


def _money(text: str) -> float:
    return float(text.replace(",", ""))


def parse_query(text: str, vocabulary: Vocabulary) -> ParsedQuery:
    """Constraints, sort and back-references of one message."""
    lowered = " ".join(text.lower().replace("\u2019", "'").split())
    words = tokens(lowered)
    wordset = set(words)
    subcategories, categories = vocabulary.find([singular(word) for word in words])

    # who it is for
    genders = [g for g, vocab in GENDER_WORDS.items() if wordset & vocab]
    gender: str | None = None
    if "kids" in genders:
        gender = "kids"
    elif len(genders) == 1:
        gender = genders[0]
    age: str | None = None
    match = _AGE_NUMBER.search(lowered)
    if match:
        number = next(group for group in match.groups() if group)
        years = int(number) * (10 if match.group(4) else 1)
        if 0 < years < 120:
            age = _age_group(years)
    if age is None:
        if wordset & SENIOR_WORDS or re.search(
            r"\bold (?:man|men|woman|women|lady|people)\b", lowered
        ):
            age = "senior"
        elif wordset & TEEN_WORDS:
            age = "teen"
        elif wordset & KID_AGE_WORDS:
            age = "kids"
        elif wordset & ADULT_WORDS:
            age = "adult"
    if age == "kids" and gender in (None, "men", "women"):
        gender = "kids"
    if gender == "kids" and age is None:
        age = "kids"

    # price
    min_price = max_price = None
    if found := _RANGE.search(lowered) or _DASH_RANGE.search(lowered):
        low, high = sorted((_money(found.group(1)), _money(found.group(2))))
        min_price, max_price = low, high
    else:
        if found := _MAX_PRICE.search(lowered):
            max_price = _money(found.group(1))
        if found := _MIN_PRICE.search(lowered):
            min_price = _money(found.group(1))

    # order
    sort: Sort | None = None
    about_price = any(word in wordset for word in PRICE_WORDS)
    about_rating = any(word in wordset for word in RATING_WORDS) or "best rated" in lowered
    descending = any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in DESCENDING_PHRASES)
    ascending = any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in ASCENDING_PHRASES)
    wants_order = bool(wordset & SORT_VERBS) or (
        (descending or ascending)
        and any(word in wordset for word in ("first", "to", "cheapest", "rated"))
    )
    if wants_order and (about_price or about_rating):
        sort_field: SortField = "rating" if about_rating and not about_price else "price"
        # Named direction, else the natural one: cheapest first, best rated first.
        is_descending = descending if descending != ascending else sort_field == "rating"
        sort = Sort(sort_field, is_descending)

    constraints = Constraints(
        subcategories=subcategories,
        categories=categories,
        genders=_GENDER_ALLOWED[gender] if gender else (),
        preferred_gender=gender,
        age_groups=_AGE_ALLOWED[age] if age else (),
        preferred_age=age,
        min_price=min_price,
        max_price=max_price,
    )
    return ParsedQuery(
        text=text,
        constraints=constraints,
        sort=sort,
        refers_back=bool(wordset & REFERS_BACK_WORDS),
    )
