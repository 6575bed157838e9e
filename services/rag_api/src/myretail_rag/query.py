"""What a shopper's words ask for: product types, who it is for, price bounds, an order.

A small, documented rule set (no model): it turns "walking shoes for a 60 year old man
under $120, cheapest first" into constraints (subcategory walking shoes; gender men or
unisex, preferring men; age senior/adult/all, preferring senior; price at most 120) and a
sort (price ascending). The same constraints become a Qdrant filter (served by payload
indexes on a Qdrant server) or are checked in Python over over-fetched candidates
(embedded Qdrant scans filters in Python, which is slow at scale). README.md lists
exactly what is understood.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from qdrant_client import models

METADATA_KEY = "metadata"

# -- vocabulary -----------------------------------------------------------------------------

_GENDER_WORDS = {
    "men": {
        "man",
        "men",
        "male",
        "males",
        "mens",
        "gentleman",
        "gentlemen",
        "guy",
        "guys",
        "husband",
        "father",
        "dad",
        "daddy",
        "grandfather",
        "grandpa",
        "granddad",
        "boyfriend",
        "brother",
        "uncle",
        "him",
        "his",
        "he",
        "himself",
    },
    "women": {
        "woman",
        "women",
        "female",
        "females",
        "womens",
        "lady",
        "ladies",
        "wife",
        "mother",
        "mom",
        "mum",
        "mommy",
        "grandmother",
        "grandma",
        "granny",
        "girlfriend",
        "sister",
        "aunt",
        "her",
        "she",
        "herself",
    },
    "kids": {
        "kid",
        "kids",
        "child",
        "children",
        "childs",
        "childrens",
        "boy",
        "boys",
        "girl",
        "girls",
        "toddler",
        "toddlers",
        "son",
        "daughter",
        "baby",
        "grandson",
        "granddaughter",
        "nephew",
        "niece",
        "junior",
    },
    "unisex": {"unisex"},
}
_SENIOR_WORDS = {
    "senior",
    "seniors",
    "elderly",
    "older",
    "retired",
    "retiree",
    "retirees",
    "grandfather",
    "grandpa",
    "granddad",
    "grandmother",
    "grandma",
    "granny",
    "aging",
    "ageing",
    "pensioner",
}
_TEEN_WORDS = {"teen", "teens", "teenager", "teenagers", "teenage", "adolescent"}
_KID_AGE_WORDS = _GENDER_WORDS["kids"] - {"son", "daughter", "junior", "grandson", "granddaughter"}
_ADULT_WORDS = {"adult", "adults", "grown"}

#: Extra words for a product type, beyond the type's own words (singular forms).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "sneakers": ("sneaker", "trainer"),
    "hiking boots": ("boot", "hiking shoe", "trail shoe"),
    "running shoes": ("running shoe", "jogging shoe", "runner"),
    "walking shoes": ("walking shoe", "walker shoe", "shoe for walking"),
    "t-shirts": ("tee", "tshirt", "t shirt"),
    "headphones": ("earbud", "earphone", "headset", "headphone"),
    "smartwatches": ("smart watch", "smartwatch", "fitness tracker", "watch"),
    "speakers": ("speaker", "soundbar"),
    "cookware": ("pan", "pot", "skillet", "saucepan", "wok"),
    "lighting": ("lamp", "bulb", "light fixture"),
    "bedding": ("sheet", "duvet", "pillow", "comforter", "blanket", "quilt"),
    "sunglasses": ("sunglass", "shade"),
    "camping": ("tent", "sleeping bag", "camping"),
    "cycling": ("bike", "bicycle", "cycling"),
    "fitness equipment": ("dumbbell", "kettlebell", "resistance band", "fitness equipment"),
    "fragrance": ("perfume", "cologne", "fragrance", "scent"),
    "haircare": ("shampoo", "conditioner", "hair"),
    "skincare": ("moisturizer", "moisturiser", "serum", "sunscreen", "skin"),
    "sweaters": ("sweater", "jumper", "cardigan", "pullover"),
    "jackets": ("jacket", "coat", "parka"),
    "dresses": ("dress",),
    "socks": ("sock",),
    "jeans": ("jean", "denim"),
    "sandals": ("sandal", "flip flop"),
    "slippers": ("slipper",),
    "toys": ("toy",),
    "yoga": ("yoga",),
    "handbags": ("handbag", "purse", "tote"),
    "hats": ("hat", "cap", "beanie"),
    "laptop bags": ("laptop bag", "laptop backpack", "laptop sleeve"),
    "school bags": ("school bag", "school backpack", "backpack"),
    "kids shoes": ("kids shoe", "children shoe", "child shoe"),
    "dress shoes": ("dress shoe", "oxford", "loafer"),
    "phone accessories": ("phone case", "phone charger", "charger", "phone accessory"),
    "kitchen appliances": ("blender", "kettle", "toaster", "coffee maker", "air fryer"),
    "activewear": ("legging", "activewear", "workout clothes", "gym clothes"),
}
CATEGORY_WORDS: dict[str, tuple[str, ...]] = {
    "footwear": ("footwear",),
    "apparel": ("clothes", "clothing", "apparel", "outfit"),
    "electronics": ("electronics", "gadget"),
    "beauty": ("beauty", "cosmetic"),
    "home": ("home", "kitchen"),
    "sports": ("sport", "sports", "outdoor"),
    "accessories": ("accessory",),
}
#: Words for any kind of shoe: every product type whose words include one of _SHOE_KINDS
#: (kids shoes live in the kids category, so "shoes" is not the footwear category).
_SHOE_WORDS = {("shoe",), ("footwear",)}
_SHOE_KINDS = {"shoe", "boot", "sneaker", "sandal", "slipper", "trainer"}
_REFERS_BACK = {
    "them",
    "those",
    "these",
    "they",
    "ones",
    "one",
    "results",
    "result",
    "list",
    "above",
    "previous",
    "it",
    "same",
    "table",
    "options",
}
_SORT_VERBS = {"sort", "sorted", "order", "ordered", "rank", "ranked", "arrange", "reorder"}
_DESC_PHRASES = (
    "descending",
    "desc",
    "decreasing",
    "high to low",
    "highest to lowest",
    "highest first",
    "most expensive",
    "expensive first",
    "best rated",
    "top rated",
    "highest rated",
    "largest first",
    "biggest first",
)
_ASC_PHRASES = (
    "ascending",
    "asc",
    "increasing",
    "low to high",
    "lowest to highest",
    "lowest first",
    "cheapest",
    "least expensive",
    "cheap first",
    "lowest price",
    "lowest rated",
    "worst rated",
    "smallest first",
)
_PRICE_WORDS = ("price", "prices", "priced", "cost", "costs", "expensive", "cheap", "cheapest")
_RATING_WORDS = ("rating", "ratings", "rated", "stars", "star", "reviews", "score")

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


def _singular(token: str) -> str:
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith(("sses", "shes", "ches", "xes")):
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith(("ss", "us")):
        return token[:-1]
    return token


def tokens(text: str) -> list[str]:
    """Lower-case words, apostrophes dropped ("men's" -> "mens")."""
    lowered = text.lower().replace("'", "").replace("\u2019", "")
    return re.findall(r"[a-z0-9]+", lowered)


def _phrase_tokens(phrase: str) -> tuple[str, ...]:
    return tuple(_singular(token) for token in tokens(phrase))


# -- constraints ----------------------------------------------------------------------------


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

    def is_empty(self) -> bool:
        return self == Constraints()

    @property
    def has_person(self) -> bool:
        return bool(self.genders or self.age_groups)

    def merged(self, newer: Constraints) -> Constraints:
        """These constraints with every field ``newer`` sets replaced by ``newer``'s."""
        values = asdict(self)
        for key, value in asdict(newer).items():
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
            for key, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Constraints:
        if not data:
            return cls()
        known = {key: data[key] for key in asdict(cls()) if key in data}
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


class Vocabulary:
    """Product types (subcategories) and categories the catalog has, with their words."""

    def __init__(self, subcategories: Iterable[str], categories: Iterable[str] = ()) -> None:
        self.subcategories = sorted({s.lower() for s in subcategories if s})
        self.categories = sorted({c.lower() for c in categories if c})
        self._phrases: list[tuple[tuple[str, ...], str, str]] = []
        for sub in self.subcategories:
            forms = {_phrase_tokens(sub)}
            forms.update(_phrase_tokens(word) for word in SYNONYMS.get(sub, ()))
            for form in forms:
                if form:
                    self._phrases.append((form, "subcategory", sub))
        for category in self.categories:
            forms = {_phrase_tokens(category)}
            forms.update(_phrase_tokens(word) for word in CATEGORY_WORDS.get(category, ()))
            for form in forms:
                if form:
                    self._phrases.append((form, "category", category))
        self._shoes = tuple(
            sub for sub in self.subcategories if set(_phrase_tokens(sub)) & _SHOE_KINDS
        )
        for form in _SHOE_WORDS:
            if self._shoes:
                self._phrases.append((form, "shoes", ""))
        # Longest phrases first: "dress shoes" wins over "dress", "walking shoe" over "shoe".
        self._phrases.sort(key=lambda item: -len(item[0]))

    def find(self, words: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(subcategories, categories) named in ``words`` (singular forms)."""
        covered = [False] * len(words)
        subs: list[str] = []
        cats: list[str] = []
        for phrase, kind, value in self._phrases:
            size = len(phrase)
            for start in range(len(words) - size + 1):
                if tuple(words[start : start + size]) != phrase:
                    continue
                if any(covered[start : start + size]):
                    continue
                for index in range(start, start + size):
                    covered[index] = True
                if kind == "shoes":
                    subs.extend(sub for sub in self._shoes if sub not in subs)
                    continue
                target = subs if kind == "subcategory" else cats
                if value not in target:
                    target.append(value)
        if subs:
            cats = []
        return tuple(subs), tuple(cats)


def _age_group(age: int) -> str:
    if age < 13:
        return "kids"
    if age < 20:
        return "teen"
    if age < 55:
        return "adult"
    return "senior"


_AGE_ALLOWED = {
    "senior": ("senior", "adult", "all"),
    "adult": ("adult", "senior", "all"),
    "teen": ("teen", "adult", "all"),
    "kids": ("kids", "all"),
}
_GENDER_ALLOWED = {
    "men": ("men", "unisex"),
    "women": ("women", "unisex"),
    "kids": ("kids", "unisex"),
    "unisex": ("unisex",),
}


def _money(text: str) -> float:
    return float(text.replace(",", ""))


def parse_query(text: str, vocabulary: Vocabulary) -> ParsedQuery:
    """Constraints, sort and back-references of one message."""
    lowered = " ".join(text.lower().replace("\u2019", "'").split())
    words = tokens(lowered)
    wordset = set(words)
    singular = [_singular(word) for word in words]
    subcategories, categories = vocabulary.find(singular)

    # who it is for
    genders = [g for g, vocab in _GENDER_WORDS.items() if wordset & vocab]
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
        if wordset & _SENIOR_WORDS or re.search(
            r"\bold (?:man|men|woman|women|lady|people)\b", lowered
        ):
            age = "senior"
        elif wordset & _TEEN_WORDS:
            age = "teen"
        elif wordset & _KID_AGE_WORDS:
            age = "kids"
        elif wordset & _ADULT_WORDS:
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
    about_price = any(word in wordset for word in _PRICE_WORDS)
    about_rating = any(word in wordset for word in _RATING_WORDS) or "best rated" in lowered
    descending = any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in _DESC_PHRASES)
    ascending = any(re.search(rf"\b{re.escape(p)}\b", lowered) for p in _ASC_PHRASES)
    wants_order = bool(wordset & _SORT_VERBS) or (
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
        refers_back=bool(wordset & _REFERS_BACK),
    )
