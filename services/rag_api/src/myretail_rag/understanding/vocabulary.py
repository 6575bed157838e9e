"""The words the query rules know: people, ages, product types, categories, orders.

Product types and categories are keyed by the catalog taxonomy
(:mod:`myretail_rag.catalog.taxonomy`); :class:`Vocabulary` holds the ones a loaded
catalog has, with their words (a catalog's own product types are known by their names
even without listed synonyms). README.md lists exactly what is understood.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import TypeVar

from myretail_rag.catalog.taxonomy import CATEGORIES, GENDERS, SUBCATEGORIES

T = TypeVar("T")


def keyed_by(names: Iterable[str], what: str, table: dict[str, T]) -> dict[str, T]:
    """``table``, checked to be keyed by taxonomy ``names`` only (a typo would never match)."""
    unknown = sorted(set(table) - set(names))
    if unknown:
        raise ValueError(f"unknown {what} (not in the catalog taxonomy): {', '.join(unknown)}")
    return table


# -- who it is for --------------------------------------------------------------------------

GENDER_WORDS: dict[str, set[str]] = keyed_by(
    GENDERS,
    "gender",
    {
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
    },
)
SENIOR_WORDS = {
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
TEEN_WORDS = {"teen", "teens", "teenager", "teenagers", "teenage", "adolescent"}
KID_AGE_WORDS = GENDER_WORDS["kids"] - {"son", "daughter", "junior", "grandson", "granddaughter"}
ADULT_WORDS = {"adult", "adults", "grown"}

# -- what it is -----------------------------------------------------------------------------

#: Extra words for a product type, beyond the type's own words (singular forms).
SYNONYMS: dict[str, tuple[str, ...]] = keyed_by(
    SUBCATEGORIES,
    "product type",
    {
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
    },
)
CATEGORY_WORDS: dict[str, tuple[str, ...]] = keyed_by(
    CATEGORIES,
    "category",
    {
        "footwear": ("footwear",),
        "apparel": ("clothes", "clothing", "apparel", "outfit"),
        "electronics": ("electronics", "gadget"),
        "beauty": ("beauty", "cosmetic"),
        "home": ("home", "kitchen"),
        "sports": ("sport", "sports", "outdoor"),
        "accessories": ("accessory",),
    },
)
#: Words for any kind of shoe: every product type whose words include one of _SHOE_KINDS
#: (kids shoes live in the kids category, so "shoes" is not the footwear category).
_SHOE_WORDS = {("shoe",), ("footwear",)}
_SHOE_KINDS = {"shoe", "boot", "sneaker", "sandal", "slipper", "trainer"}
# -- follow-ups and orders ------------------------------------------------------------------

REFERS_BACK_WORDS = {
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
SORT_VERBS = {"sort", "sorted", "order", "ordered", "rank", "ranked", "arrange", "reorder"}
DESCENDING_PHRASES = (
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
ASCENDING_PHRASES = (
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
PRICE_WORDS = ("price", "prices", "priced", "cost", "costs", "expensive", "cheap", "cheapest")
RATING_WORDS = ("rating", "ratings", "rated", "stars", "star", "reviews", "score")


# -- words ----------------------------------------------------------------------------------


def singular(token: str) -> str:
    """A plural word's singular ("dresses" -> "dress"; short words stay)."""
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


def phrase_tokens(phrase: str) -> tuple[str, ...]:
    """A phrase as singular tokens ("Walking Shoes" -> ("walking", "shoe"))."""
    return tuple(singular(token) for token in tokens(phrase))


class Vocabulary:
    """Product types (subcategories) and categories the catalog has, with their words."""

    def __init__(self, subcategories: Iterable[str], categories: Iterable[str] = ()) -> None:
        self.subcategories = sorted({s.lower() for s in subcategories if s})
        self.categories = sorted({c.lower() for c in categories if c})
        self._phrases: list[tuple[tuple[str, ...], str, str]] = []
        self._add_phrases("subcategory", self.subcategories, SYNONYMS)
        self._add_phrases("category", self.categories, CATEGORY_WORDS)
        self._shoes = tuple(
            sub for sub in self.subcategories if set(phrase_tokens(sub)) & _SHOE_KINDS
        )
        for form in _SHOE_WORDS:
            if self._shoes:
                self._phrases.append((form, "shoes", ""))
        # Longest phrases first: "dress shoes" wins over "dress", "walking shoe" over "shoe".
        self._phrases.sort(key=lambda item: -len(item[0]))

    def _add_phrases(self, kind: str, names: list[str], words: dict[str, tuple[str, ...]]) -> None:
        """Each name's own words and its listed words, as singular token phrases."""
        for name in names:
            forms = {phrase_tokens(name)}
            forms.update(phrase_tokens(word) for word in words.get(name, ()))
            for form in forms:
                if form:
                    self._phrases.append((form, kind, name))

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
