"""Generate MyRetail's sample product catalog (``data/catalog.csv``).

Products are assembled from brand, model-line, style, material and feature vocabularies per
subcategory (and per product type inside it), so names and descriptions read like a real
shop and carry the attributes a shopper searches for (arch support, waterproof, non-slip
sole, easy on/off, ...). Prices, ratings, colours, sizes and stock come from one seeded
``random.Random``.

The taxonomy (columns, categories, product types, genders, age groups) is the RAG
service's :mod:`myretail_rag.catalog.taxonomy`, declared there once; this script holds one
recipe per product type.

Usage: ``python data/generate_catalog.py [OUT_PATH]`` (default: ``catalog.csv`` next to this
file). Deterministic: standard library only (the taxonomy module too), no network, no
clock; byte-identical output.
"""

from __future__ import annotations

import csv
import io
import random
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

try:
    from myretail_rag.catalog import taxonomy
except ModuleNotFoundError:  # a Python without the RAG service installed: use the repo's copy
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "services" / "rag_api" / "src"))
    from myretail_rag.catalog import taxonomy

SEED = 1207
# fmt: off
# Brands per category: name -> price tier (0 value, 1 mid-range, 2 premium).
BRANDS: dict[str, dict[str, int]] = {
    "footwear": {
        "TrailMate": 1, "StrideWell": 1, "EverComfort": 0, "Northbound": 2, "UrbanSole": 0,
        "Kinetix": 2, "Harbor & Hale": 2, "PeakForm": 1, "Easyfoot": 0, "Ardent": 2,
    },
    "apparel": {
        "Loom & Lane": 1, "NorthRidge": 2, "Everthread": 0, "Kindred Supply": 1,
        "Motion Lab": 1, "Indigo Row": 1, "Basecamp Co.": 0, "Atelier Nord": 2,
    },
    "electronics": {
        "Sonora": 2, "VoltEdge": 0, "Arcwave": 1, "Lumen Tech": 1, "Pulsar": 2, "Carryall": 0,
    },
    "home": {
        "Hearth & Oak": 2, "CasaLuxe": 2, "Brightside": 0, "Ironleaf": 1, "Dreamwell": 1,
        "Kitchen Craft": 0,
    },
    "beauty": {
        "Glow Theory": 1, "Pure Botanica": 0, "Maison Lune": 2, "Velvet & Vine": 1,
        "Dermatrue": 2,
    },
    "sports": {
        "ZenFlow": 1, "Summit Gear": 2, "Velocity Cycle": 1, "IronCore": 1, "Basecamp Co.": 0,
        "Ridgeline Outdoor": 2,
    },
    "kids": {
        "Little Sprout": 0, "PlayNest": 1, "Bright Minds": 1, "TinyTrek": 1, "Kinetix": 2,
    },
    "accessories": {
        "Harbor & Hale": 2, "Sunward": 1, "Loom & Lane": 1, "Everthread": 0, "Atelier Nord": 2,
    },
}

# Model names: footwear models are compounds ("CloudStep 2"), other families use lines.
SHOE_PREFIX = [
    "Cloud", "Terra", "Aero", "Flex", "Summit", "Ever", "Nova", "Ridge", "Breeze", "Metro",
    "Pace", "Trail", "Swift", "Zen", "Luma", "Harbor", "Vista", "Bay", "Comfort", "Oak",
]
SHOE_SUFFIX = [
    "Step", "Walk", "Glide", "Lite", "Trek", "Rise", "Wave", "Motion", "Fit", "Path",
    "Stride", "Foam", "Ease", "Roam", "Quest",
]
SHOE_VERSIONS = ["", "", "", " 2", " 3", " 4", " X", " LX"]
LINES = {
    "apparel": [
        "Everyday", "Heritage", "Coastal", "Alpine", "Weekend", "Studio", "Cozy", "Summit",
        "Classic", "Essential", "Luxe", "Meadow", "Canyon", "Harbor",
    ],
    "electronics": ["Pulse", "Echo", "Aura", "Nimbus", "Vibe", "Halo", "Orbit", "Flux", "Nova"],
    "home": [
        "Artisan", "Heritage", "Everyday", "Signature", "Nordic", "Farmhouse", "Modern",
        "Coastal", "Essentials", "Studio",
    ],
    "beauty": [
        "Radiance", "Hydra", "Botanical", "Pure", "Silk", "Velvet", "Daily", "Renew", "Bloom",
        "Clarity",
    ],
    "sports": [
        "Pro", "Trail", "Summit", "Core", "Flow", "Velocity", "Endurance", "Basecamp", "Peak",
        "Active",
    ],
    "kids": [
        "Adventure", "Rainbow", "Explorer", "Sunny", "Rocket", "Jungle", "Starlight", "Puddle",
        "Buddy", "Dino",
    ],
    "accessories": [
        "Classic", "Voyager", "Coastal", "Metro", "Heritage", "Riviera", "Weekend", "Soho",
        "Aspen", "Sierra",
    ],
}
MODEL_NUMBERS = ["100", "200", "300", "350", "500", "700", "900", "Pro", "Max", "Mini", "Air"]

COLORS = {
    "footwear": [
        "Black", "White", "Navy", "Grey", "Brown", "Tan", "Olive", "Charcoal", "Blue",
        "Burgundy", "Beige", "Black/White",
    ],
    "apparel": [
        "Black", "White", "Heather Grey", "Navy", "Olive", "Burgundy", "Dusty Rose",
        "Forest Green", "Indigo", "Camel", "Sky Blue", "Cream",
    ],
    "electronics": ["Black", "White", "Silver", "Space Grey", "Midnight Blue", "Graphite"],
    "home": ["White", "Grey", "Natural", "Charcoal", "Sage", "Navy", "Copper", "Stainless"],
    "beauty": ["n/a"],
    "sports": ["Black", "Blue", "Red", "Green", "Grey", "Orange", "Purple", "Teal"],
    "kids": ["Red", "Blue", "Pink", "Yellow", "Green", "Purple", "Multicolor", "Navy"],
    "accessories": ["Black", "Brown", "Tan", "Navy", "Cognac", "Tortoise", "Gold", "Olive"],
}

SENIOR_SHOE_SENTENCES = [
    "Stable, slip-resistant and easy on/off, it is a comfortable choice for older adults.",
    "Designed for older adults and seniors who want steady, supportive footing every day.",
    "A secure easy on/off fit and slip-resistant grip make it ideal for seniors.",
    "Recommended for older adults: extra stability, reliable arch support and a non-slip sole.",
]
SENIOR_SHOE_FEATURES = [
    "firm arch support", "a slip-resistant rubber outsole", "an easy on/off hook-and-loop strap",
    "a wide, stable heel base", "a roomy toe box", "extra cushioning that eases joint impact",
    "a padded heel collar", "a removable orthotic-friendly insole",
]
SENIOR_SENTENCES = [
    "Easy to put on and take off, a comfortable pick for older adults.",
    "A relaxed, easy-care fit that seniors love for everyday wear.",
]
KIDS_SENTENCES = [
    "Sized for kids, with room to grow.",
    "Built to keep up with active kids.",
    "Tough enough for school and playground days.",
]
TEEN_SENTENCES = [
    "A favourite with teens for school and weekends.",
    "Styled for teens who want comfort and a clean look.",
]
# fmt: on

# Footwear styles that suit senior shoppers; preferred for the senior age group.
SENIOR_STYLES = ("Comfort", "Wide", "Easy-On", "Stability", "Orthotic")


@dataclass(frozen=True)
class Item:
    """A product type inside a subcategory; unset fields fall back to the subcategory's."""

    price: tuple[float, float] | None = None
    materials: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    sizes: str = ""
    only: tuple[str, ...] = ()  # genders this product type is made for; empty: any


@dataclass(frozen=True)
class Sub:
    """How one subcategory's products are assembled."""

    subcategory: str  # a product type of the taxonomy
    nouns: dict[str, Item]  # product type used in names ("Walking Shoe") -> overrides
    price: tuple[float, float]
    materials: tuple[str, ...]  # description openers ("Breathable mesh")
    features: tuple[str, ...]  # feature phrases for descriptions
    uses: tuple[str, ...]  # "made for ..." endings
    sizes: str  # size scheme, see _sizes()
    segments: tuple[tuple[str, str, int], ...]  # (gender, age_group, count)
    styles: dict[str, str] = field(default_factory=dict)  # name qualifier -> implied feature
    gender_label: bool = True  # put "Men's"/"Women's"/"Kids'" in the name
    shoe: bool = False  # footwear sizing and senior footwear wording
    extra: dict[str, tuple[str, ...]] = field(default_factory=dict)  # age group -> features
    brands: tuple[str, ...] = ()  # subset of the category's brands; empty: all of them
    colors: tuple[str, ...] = ()  # overrides the category's colours

    @property
    def category(self) -> str:  # also the key into BRANDS / LINES / COLORS
        return taxonomy.category_of(self.subcategory)


def plain(*nouns: str) -> dict[str, Item]:
    return {noun: Item() for noun in nouns}


# fmt: off
SHOE_USES = (
    "all-day comfort", "daily walks and errands", "long days on your feet",
    "city streets and park paths", "travel and sightseeing",
)

RECIPES: list[Sub] = [
    # ------------------------------------------------------------------------------ footwear
    Sub(
        "walking shoes", plain("Walking Shoe"),
        price=(39, 189),
        materials=("Breathable mesh", "Soft knit", "Full-grain leather", "Lightweight synthetic",
                   "Suede"),
        features=("a cushioned EVA midsole", "firm arch support", "a non-slip rubber sole",
                  "a breathable lining", "a shock-absorbing heel", "a lightweight flexible build",
                  "a memory foam insole", "a padded tongue and collar", "a roomy toe box"),
        uses=SHOE_USES,
        sizes="shoe",
        segments=(("men", "adult", 26), ("men", "senior", 22), ("women", "adult", 22),
                  ("women", "senior", 20), ("unisex", "adult", 6), ("unisex", "senior", 6)),
        styles={
            "Comfort": "plush cushioning for all-day comfort",
            "Wide": "a wide fit with extra room",
            "Slip-On": "an easy on/off slip-on design",
            "Waterproof": "a waterproof, seam-sealed upper",
            "Stability": "a stable, supportive platform",
            "Orthotic": "built-in orthotic arch support",
            "Leather": "a supple leather upper",
            "Easy-On": "an easy on/off zip and strap closure",
        },
        shoe=True,
    ),
    Sub(
        "running shoes",
        plain("Running Shoe", "Trail Running Shoe", "Road Running Shoe"),
        price=(59, 199),
        materials=("Engineered mesh", "Featherlight knit", "Breathable mesh", "Seamless knit"),
        features=("responsive foam cushioning", "a grippy rubber outsole", "a breathable upper",
                  "a secure heel lock", "a lightweight build",
                  "a rocker sole for smooth transitions", "reflective details for low light"),
        uses=("daily training", "race day", "long runs", "tempo workouts", "trail miles"),
        sizes="shoe",
        segments=(("men", "adult", 28), ("women", "adult", 28), ("men", "teen", 4),
                  ("women", "teen", 4), ("unisex", "adult", 4)),
        styles={
            "Tempo": "a snappy, responsive ride",
            "Max Cushion": "maximum cushioning for long miles",
            "Stability": "guided stability for overpronation",
            "Wide": "a wide fit with extra room",
            "GTX": "a waterproof GORE-TEX lining",
        },
        shoe=True,
    ),
    Sub(
        "hiking boots",
        plain("Hiking Boot", "Mid Hiking Boot", "Trail Boot"),
        price=(79, 249),
        materials=("Waterproof leather", "Rugged suede", "Nubuck leather", "Ripstop synthetic"),
        features=("a lugged rubber outsole for grip", "ankle support", "a protective toe cap",
                  "a cushioned midsole", "a gusseted tongue that keeps debris out",
                  "a breathable lining", "a stable shank for rocky trails"),
        uses=("day hikes", "rocky trails", "backpacking trips", "muddy paths"),
        sizes="shoe",
        segments=(("men", "adult", 18), ("women", "adult", 16), ("men", "senior", 4)),
        styles={
            "Waterproof": "a waterproof, breathable membrane",
            "Insulated": "200g insulation for cold weather",
            "Lightweight": "a lightweight, flexible build",
            "Wide": "a wide fit with extra room",
        },
        shoe=True,
    ),
    Sub(
        "sandals", plain("Sandal", "Slide Sandal", "Sport Sandal"),
        price=(24, 119),
        materials=("Soft leather", "Quick-dry webbing", "Cork and leather", "Lightweight EVA"),
        features=("a contoured footbed with arch support", "adjustable straps",
                  "a non-slip sole", "a cushioned footbed", "water-friendly materials",
                  "a lightweight build"),
        uses=("summer days", "beach trips", "poolside lounging", "casual weekends"),
        sizes="shoe",
        segments=(("men", "adult", 10), ("women", "adult", 18), ("women", "senior", 5),
                  ("unisex", "adult", 4)),
        styles={"Comfort": "a soft, cushioned footbed",
                "Water": "quick-dry, water-friendly straps"},
        shoe=True,
    ),
    Sub(
        "dress shoes",
        {"Oxford": Item(), "Loafer": Item(), "Derby Shoe": Item(), "Chelsea Boot": Item(),
         "Pump": Item(only=("women",)), "Ballet Flat": Item(only=("women",))},
        price=(69, 229),
        materials=("Polished leather", "Full-grain leather", "Suede", "Burnished leather"),
        features=("a cushioned insole", "a leather lining", "a non-slip rubber heel",
                  "a flexible sole", "a padded footbed", "Goodyear-welted construction"),
        uses=("the office", "weddings and events", "all-day wear at work", "formal occasions"),
        sizes="shoe",
        segments=(("men", "adult", 18), ("women", "adult", 10), ("men", "senior", 6)),
        styles={"Comfort": "a hidden comfort footbed", "Wide": "a wide fit with extra room",
                "Classic": "a timeless classic silhouette"},
        shoe=True,
    ),
    Sub(
        "sneakers",
        plain("Sneaker", "Court Sneaker", "Low-Top Sneaker", "High-Top Sneaker"),
        price=(44, 159),
        materials=("Canvas", "Leather", "Knit", "Suede and mesh"),
        features=("a cushioned insole", "a vulcanized rubber sole", "a padded collar",
                  "a lightweight build", "a breathable lining", "a grippy outsole"),
        uses=("everyday wear", "weekends out", "casual days", "travel"),
        sizes="shoe",
        segments=(("men", "adult", 14), ("women", "adult", 14), ("unisex", "teen", 8),
                  ("unisex", "adult", 8)),
        styles={"Classic": "a clean, classic profile", "Slip-On": "an easy on/off slip-on design",
                "Platform": "a lifted platform sole", "Retro": "retro-inspired styling"},
        shoe=True,
    ),
    Sub(
        "slippers",
        plain("Slipper", "Moccasin Slipper", "Clog Slipper", "Bootie Slipper"),
        price=(19, 79),
        materials=("Plush fleece", "Sheepskin", "Soft knit", "Faux fur-lined suede"),
        features=("a memory foam footbed", "a non-slip indoor/outdoor sole", "a warm lining",
                  "a cushioned insole", "machine-washable materials"),
        uses=("lounging at home", "cold mornings", "relaxing evenings"),
        sizes="shoe",
        segments=(("men", "adult", 6), ("women", "adult", 8), ("men", "senior", 8),
                  ("women", "senior", 8)),
        styles={"Cozy": "an extra-plush warm lining",
                "Easy-On": "an easy on/off adjustable strap",
                "Wide": "a wide fit with extra room"},
        shoe=True,
    ),
    # ------------------------------------------------------------------------------- apparel
    Sub(
        "t-shirts",
        plain("T-Shirt", "Crewneck Tee", "V-Neck Tee", "Pocket Tee", "Henley Tee"),
        price=(12, 45),
        materials=("Soft organic cotton", "Slub cotton", "Cotton-modal blend", "Midweight jersey"),
        features=("a tagless neckline", "a relaxed fit", "pre-shrunk fabric",
                  "double-stitched hems", "a soft brushed finish"),
        uses=("everyday layering", "weekends", "warm days"),
        sizes="apparel",
        segments=(("men", "adult", 16), ("women", "adult", 16), ("unisex", "teen", 6),
                  ("kids", "kids", 6)),
        styles={"Organic": "certified organic cotton",
                "Performance": "moisture-wicking performance fabric"},
    ),
    Sub(
        "jackets",
        {
            "Puffer Jacket": Item(
                (79, 249), ("Recycled nylon", "Ripstop nylon"),
                ("warm down-alternative fill", "zippered hand pockets", "an adjustable hood",
                 "a packable design", "a windproof shell")),
            "Rain Jacket": Item(
                (59, 179), ("Waterproof nylon", "Lightweight polyester"),
                ("a waterproof, seam-sealed shell", "an adjustable hood",
                 "pit zips for ventilation", "a packable design")),
            "Fleece Jacket": Item(
                (49, 119), ("Brushed fleece", "Recycled fleece"),
                ("zippered hand pockets", "a soft, warm feel", "a stand-up collar")),
            "Denim Jacket": Item(
                (59, 139), ("Cotton denim", "Stretch denim"),
                ("a button-front closure", "chest flap pockets", "a broken-in wash")),
            "Parka": Item(
                (129, 299), ("Water-resistant polyester", "Cotton twill"),
                ("warm synthetic insulation", "a faux-fur trimmed hood",
                 "a longer length for extra coverage", "zippered hand pockets")),
            "Softshell Jacket": Item(
                (69, 169), ("Stretch softshell",),
                ("a windproof shell", "a water-repellent finish", "a soft fleece lining",
                 "zippered hand pockets")),
        },
        price=(49, 299), materials=(), features=(),
        uses=("chilly commutes", "rainy days", "outdoor weekends", "travel"),
        sizes="apparel",
        segments=(("men", "adult", 16), ("women", "adult", 16), ("men", "senior", 4),
                  ("women", "senior", 4)),
    ),
    Sub(
        "jeans",
        plain("Straight Jeans", "Slim Jeans", "Relaxed Jeans", "Bootcut Jeans", "Skinny Jeans"),
        price=(39, 129),
        materials=("Stretch denim", "Rigid selvedge denim", "Organic cotton denim",
                   "Soft comfort denim"),
        features=("a classic five-pocket design", "a comfortable mid rise", "a touch of stretch",
                  "a fade-resistant wash"),
        uses=("everyday wear", "casual Fridays", "weekends"),
        sizes="jeans",
        segments=(("men", "adult", 14), ("women", "adult", 14), ("women", "teen", 4)),
        styles={"Comfort Stretch": "flexible comfort stretch", "Classic": "a timeless dark wash"},
    ),
    Sub(
        "dresses",
        plain("Wrap Dress", "Midi Dress", "Maxi Dress", "Shirt Dress", "Sundress"),
        price=(34, 179),
        materials=("Flowy viscose", "Linen blend", "Stretch jersey", "Cotton poplin"),
        features=("side pockets", "an adjustable waist tie", "a lined skirt",
                  "a flattering A-line cut"),
        uses=("summer events", "the office", "weekend brunch", "vacations"),
        sizes="apparel",
        segments=(("women", "adult", 24), ("women", "teen", 4), ("kids", "kids", 4)),
        styles={"Floral": "a bright floral print", "Smocked": "a smocked, stretchy bodice",
                "Tiered": "a tiered, swingy skirt"},
    ),
    Sub(
        "sweaters",
        {"Crewneck Sweater": Item(), "Quarter-Zip Sweater": Item(), "Cable-Knit Sweater": Item(),
         "Turtleneck": Item(),
         "Cardigan": Item(features=("easy button-front dressing", "two patch pockets",
                                    "ribbed cuffs and hem"))},
        price=(29, 149),
        materials=("Merino wool", "Soft cashmere blend", "Chunky cotton knit", "Lambswool"),
        features=("ribbed cuffs and hem", "a relaxed fit", "an easy-care knit",
                  "a soft, itch-free feel"),
        uses=("cool evenings", "layering at the office", "winter weekends"),
        sizes="apparel",
        segments=(("men", "adult", 12), ("women", "adult", 12), ("men", "senior", 4),
                  ("women", "senior", 4)),
    ),
    Sub(
        "activewear",
        {
            "Leggings": Item(
                (29, 89), features=("a high-rise waistband", "a hidden waistband pocket",
                                    "squat-proof fabric", "four-way stretch")),
            "Training Shorts": Item(
                (19, 59), features=("a built-in liner", "a zippered phone pocket",
                                    "an elastic drawcord waist", "quick-dry fabric")),
            "Sports Bra": Item(
                (24, 69), features=("removable pads", "high-impact support",
                                    "adjustable straps", "moisture-wicking fabric"),
                only=("women",)),
            "Running Tank": Item(
                (19, 45), features=("moisture-wicking fabric", "reflective details",
                                    "flatlock seams that prevent chafing",
                                    "anti-odor treatment")),
            "Track Jacket": Item(
                (39, 89), features=("a full-zip front", "zippered hand pockets", "thumbholes",
                                    "a stand-up collar")),
            "Joggers": Item(
                (34, 89), features=("a tapered leg", "zippered pockets",
                                    "an elastic drawcord waist", "four-way stretch")),
        },
        price=(19, 89),
        materials=("Sweat-wicking nylon", "Four-way stretch fabric", "Quick-dry polyester",
                   "Recycled knit"),
        features=(),
        uses=("gym sessions", "running", "yoga and studio classes", "hiking"),
        sizes="apparel",
        segments=(("men", "adult", 16), ("women", "adult", 20), ("unisex", "adult", 4)),
        styles={"Seamless": "a seamless, chafe-free construction",
                "Lightweight": "featherlight fabric"},
    ),
    Sub(
        "socks",
        plain("Crew Socks 3-Pack", "Ankle Socks 6-Pack", "Hiking Socks", "Quarter Socks 3-Pack"),
        price=(6, 29),
        materials=("Merino wool blend", "Cushioned cotton", "Bamboo blend", "Performance knit"),
        features=("a cushioned sole", "arch support bands", "a seamless toe",
                  "moisture-wicking yarns", "a stay-up cuff"),
        uses=("everyday wear", "long walks", "hiking", "workouts"),
        sizes="socks",
        segments=(("men", "adult", 8), ("women", "adult", 8), ("unisex", "adult", 8),
                  ("unisex", "senior", 4)),
        styles={"Cushioned": "extra cushioning underfoot",
                "Non-Slip": "non-slip grips on the sole"},
        extra={"senior": ("a non-binding, circulation-friendly top",)},
    ),
    # --------------------------------------------------------------------------- electronics
    Sub(
        "headphones",
        {
            "Wireless Over-Ear Headphones": Item(
                (79, 349), ("Premium", "Foldable", "Lightweight"),
                ("active noise cancelling", "up to 30 hours of battery life",
                 "soft memory foam ear cushions", "a built-in microphone for calls",
                 "fast USB-C charging"),
                only=("unisex",)),
            "True Wireless Earbuds": Item(
                (29, 249), ("Compact", "Premium", "Pocket-sized"),
                ("active noise cancelling", "a charging case with 24 hours of total playtime",
                 "touch controls", "sweat and water resistance", "Bluetooth 5.3"),
                only=("unisex",)),
            "On-Ear Headphones": Item(
                (29, 149), ("Foldable", "Lightweight", "Retro-styled"),
                ("cushioned ear pads", "up to 40 hours of battery life", "Bluetooth 5.3",
                 "a built-in microphone for calls"),
                only=("unisex",)),
            "Sport Earbuds": Item(
                (29, 149), ("Secure-fit", "Lightweight", "Rugged"),
                ("flexible ear hooks", "sweat and water resistance", "touch controls",
                 "up to 10 hours of playtime per charge"),
                only=("unisex",)),
            "Kids Headphones": Item(
                (19, 49), ("Colorful", "Durable", "Foldable"),
                ("volume limited to 85 dB for young ears", "a padded, adjustable headband",
                 "a tangle-free cable", "a built-in share port"),
                only=("kids",)),
        },
        price=(19, 349), materials=(), features=(),
        uses=("commuting", "travel", "workouts", "working from home"),
        sizes="one",
        segments=(("unisex", "adult", 20), ("unisex", "teen", 8), ("kids", "kids", 4)),
        gender_label=False,
        brands=("Sonora", "VoltEdge", "Arcwave", "Pulsar"),
    ),
    Sub(
        "smartwatches",
        {"Smartwatch": Item(), "GPS Sports Watch": Item(),
         "Fitness Tracker": Item((49, 149), sizes="one")},
        price=(79, 449),
        materials=("Sleek aluminium", "Rugged", "Lightweight", "Stainless steel"),
        features=("heart-rate and sleep tracking", "built-in GPS", "up to 7 days of battery life",
                  "an always-on display", "water resistance to 50 m",
                  "fall detection and emergency SOS", "step and activity tracking"),
        uses=("everyday fitness", "running and cycling", "health tracking"),
        sizes="watch",
        segments=(("unisex", "adult", 16), ("women", "adult", 4), ("men", "adult", 4),
                  ("unisex", "senior", 4)),
        gender_label=False,
        extra={"senior": ("fall detection and emergency SOS",)},
    ),
    Sub(
        "phone accessories",
        {
            "MagSafe Phone Case": Item(
                (15, 49), features=("drop protection up to 10 ft", "a raised bezel for the screen",
                                    "MagSafe-compatible magnets", "a slim, grippy profile")),
            "Wireless Charger": Item(
                (19, 59), features=("fast charging up to 15 W", "a non-slip pad",
                                    "overheat protection", "a soft LED status light")),
            "Power Bank 10000mAh": Item(
                (19, 59), features=("USB-C fast charging", "charging for two devices at once",
                                    "a pocket-sized build", "a battery level display")),
            "USB-C Cable 2-Pack": Item(
                (9, 24), features=("a braided, tangle-free jacket", "a 6 ft length",
                                   "60 W fast charging", "reinforced connectors")),
            "Car Phone Mount": Item(
                (12, 39), features=("one-hand operation", "a strong, stable grip",
                                    "360-degree rotation", "a dashboard and vent fit")),
            "Screen Protector 2-Pack": Item(
                (9, 29), ("Tempered glass", "Privacy glass", "Anti-glare"),
                ("bubble-free installation", "case-friendly edges", "9H scratch resistance",
                 "an oleophobic anti-fingerprint coating")),
        },
        price=(9, 69),
        materials=("Slim", "Rugged", "Compact", "Premium"),
        features=(),
        uses=("everyday carry", "travel", "the car", "the office"),
        sizes="one",
        segments=(("unisex", "all", 32),),
        gender_label=False,
    ),
    Sub(
        "speakers",
        {
            "Bluetooth Speaker": Item(
                (29, 149), ("Compact", "Waterproof", "Rugged"),
                ("360-degree sound", "up to 20 hours of playtime", "IPX7 waterproofing",
                 "stereo pairing")),
            "Smart Speaker": Item(
                (49, 199), ("Room-filling", "Compact", "Fabric-wrapped"),
                ("voice assistant support", "multi-room audio", "Wi-Fi and Bluetooth",
                 "a privacy mute switch")),
            "Soundbar": Item(
                (99, 299), ("Slim", "Cinematic", "Compact"),
                ("Dolby Atmos sound", "a wireless subwoofer", "HDMI eARC",
                 "clear dialogue enhancement")),
            "Portable Party Speaker": Item(
                (99, 299), ("Powerful", "Rugged", "Room-filling"),
                ("deep bass", "a built-in LED light show", "up to 15 hours of playtime",
                 "a sturdy carry handle")),
        },
        price=(29, 299), materials=(), features=(),
        uses=("the living room", "outdoor parties", "the beach", "movie nights"),
        sizes="one",
        segments=(("unisex", "all", 24),),
        gender_label=False,
    ),
    Sub(
        "laptop bags",
        {
            "Laptop Backpack": Item(
                (39, 129), features=("a padded laptop compartment", "a luggage pass-through strap",
                                     "a hidden anti-theft pocket", "a USB charging port",
                                     "ergonomic shoulder straps")),
            "Laptop Sleeve": Item(
                (19, 49), features=("a padded, fleece-lined interior", "a slim zip closure",
                                    "a front accessory pocket")),
            "Messenger Bag": Item(
                (49, 139), features=("an adjustable shoulder strap", "a padded laptop compartment",
                                     "a magnetic flap closure", "organizer pockets")),
            "Rolling Laptop Case": Item(
                (79, 159), features=("smooth-rolling wheels", "a telescoping handle",
                                     "a padded laptop compartment",
                                     "a luggage pass-through strap")),
        },
        price=(19, 159),
        materials=("Water-resistant", "Padded", "Vegan leather", "Recycled polyester"),
        features=(),
        uses=("commuting", "business travel", "campus days"),
        sizes="laptop",
        segments=(("unisex", "adult", 18), ("men", "adult", 4), ("women", "adult", 4)),
        brands=("Carryall", "Arcwave", "Lumen Tech", "VoltEdge"),
        colors=("Black", "Grey", "Navy", "Olive", "Tan"),
    ),
    # ---------------------------------------------------------------------------------- home
    Sub(
        "cookware",
        {
            "Frying Pan": Item(
                (19, 89), ("Tri-ply stainless", "Hard-anodized nonstick", "Ceramic nonstick"),
                ("a flared rim for easy flipping",)),
            "Skillet": Item(
                (24, 79), ("Pre-seasoned cast iron", "Tri-ply stainless", "Carbon steel"),
                ("a helper handle",)),
            "Saucepan": Item(
                (29, 129), ("Tri-ply stainless", "Hard-anodized nonstick", "Copper-core"),
                ("a tight-fitting lid", "pour spouts")),
            "Dutch Oven": Item(
                (59, 349), ("Enameled cast iron", "Pre-seasoned cast iron"),
                ("a tight-fitting, self-basting lid",)),
            "10-Piece Cookware Set": Item(
                (129, 349), ("Tri-ply stainless", "Hard-anodized nonstick", "Ceramic nonstick"),
                ("pans, pots and lids for every recipe",)),
            "Stockpot": Item(
                (39, 149), ("Tri-ply stainless", "Enameled steel"),
                ("an 8-quart capacity", "a tight-fitting lid")),
        },
        price=(19, 349), materials=(),
        features=("even heat distribution", "induction compatibility",
                  "oven safety up to 500°F", "a comfortable riveted handle"),
        uses=("weeknight dinners", "family meals", "searing and braising"),
        sizes="one",
        segments=(("unisex", "all", 34),),
        gender_label=False,
        brands=("Hearth & Oak", "Ironleaf", "Kitchen Craft", "CasaLuxe"),
        colors=("Stainless", "Black", "Red", "Cream", "Graphite", "Sage"),
    ),
    Sub(
        "bedding",
        {
            "Sheet Set": Item(
                (39, 159), features=("a breathable weave",
                                     "deep pockets that fit mattresses up to 16 inches",
                                     "a silky-soft finish", "machine-washable fabric")),
            "Duvet Cover Set": Item(
                (59, 199), features=("a hidden button closure", "inside corner ties",
                                     "two matching shams", "machine-washable fabric")),
            "Comforter": Item(
                (59, 249), features=("hypoallergenic down-alternative fill",
                                     "sewn-through box stitching", "corner loops",
                                     "all-season warmth")),
            "Quilt Set": Item(
                (69, 229), features=("a lightweight all-season layer", "two matching shams",
                                     "a stitched diamond pattern", "machine-washable fabric")),
            "Pillow 2-Pack": Item(
                (29, 99), features=("hypoallergenic fill", "medium-firm support for side sleepers",
                                    "a cooling cover", "machine-washable fabric"),
                sizes="pillow"),
        },
        price=(29, 249),
        materials=("Percale cotton", "Sateen cotton", "Washed linen", "Cooling bamboo"),
        features=(),
        uses=("restful sleep", "hot sleepers", "guest rooms"),
        sizes="bed",
        segments=(("unisex", "all", 30),),
        gender_label=False,
        brands=("Dreamwell", "CasaLuxe", "Brightside", "Hearth & Oak"),
        colors=("White", "Ivory", "Grey", "Sage", "Navy", "Blush", "Charcoal"),
    ),
    Sub(
        "lighting",
        {
            "LED Table Lamp": Item(
                (29, 129), features=("dimmable warm light", "a touch control",
                                     "a built-in USB charging port", "energy-efficient LEDs")),
            "Floor Lamp": Item(
                (59, 199), features=("dimmable warm light", "a foot switch", "a weighted base",
                                     "energy-efficient LEDs")),
            "Pendant Light": Item(
                (49, 199), features=("an adjustable cord length", "dimmer compatibility",
                                     "easy installation")),
            "Desk Lamp": Item(
                (24, 89), features=("an adjustable arm", "a touch control",
                                    "three color temperatures", "a built-in USB charging port")),
            "Smart LED Bulb 4-Pack": Item(
                (19, 49), ("Energy-saving", "Color-changing", "Tunable white"),
                ("app and voice control", "16 million colors", "a 15,000-hour lifespan",
                 "no hub required")),
        },
        price=(19, 199),
        materials=("Brushed brass", "Matte black", "Natural rattan", "Frosted glass"),
        features=(),
        uses=("reading nooks", "home offices", "living rooms", "bedrooms"),
        sizes="one",
        segments=(("unisex", "all", 24),),
        gender_label=False,
        brands=("Brightside", "CasaLuxe", "Hearth & Oak", "Ironleaf"),
        colors=("Black", "Brass", "White", "Natural", "Bronze"),
    ),
    Sub(
        "kitchen appliances",
        {
            "Air Fryer": Item(
                (59, 199), features=("a 6-quart basket", "one-touch presets",
                                     "a dishwasher-safe basket", "crispy results with little oil")),
            "Blender": Item(
                (39, 249), features=("a 1200 W motor", "smoothie and pulse presets",
                                     "a BPA-free pitcher", "ice-crushing blades")),
            "Drip Coffee Maker": Item(
                (29, 149), features=("a 12-cup carafe", "a programmable brew timer",
                                     "a keep-warm plate", "a reusable filter")),
            "Electric Kettle": Item(
                (24, 79), features=("rapid boil", "temperature presets", "an auto shut-off",
                                    "boil-dry protection")),
            "Stand Mixer": Item(
                (149, 299), features=("a 5-quart bowl", "10 speeds", "a dough hook and whisk",
                                      "a tilt-head design")),
            "Toaster": Item(
                (29, 99), features=("extra-wide slots", "7 shade settings",
                                    "bagel and defrost modes", "a removable crumb tray")),
        },
        price=(24, 299),
        materials=("Compact", "Stainless steel", "Digital", "Retro-style"),
        features=(),
        uses=("busy mornings", "healthy cooking", "small kitchens"),
        sizes="one",
        segments=(("unisex", "all", 26),),
        gender_label=False,
        brands=("Kitchen Craft", "Ironleaf", "CasaLuxe", "Brightside"),
        colors=("Black", "Stainless", "White", "Red", "Cream"),
    ),
    # -------------------------------------------------------------------------------- beauty
    Sub(
        "skincare",
        plain("Hydrating Face Moisturizer", "Vitamin C Serum", "Gentle Foaming Cleanser",
              "SPF 50 Sunscreen", "Retinol Night Cream", "Eye Cream"),
        price=(9, 89),
        materials=("Lightweight", "Fragrance-free", "Dermatologist-tested", "Rich"),
        features=("hyaluronic acid", "niacinamide", "ceramides for the skin barrier",
                  "non-comedogenic ingredients", "no parabens or sulfates"),
        uses=("dry skin", "sensitive skin", "combination skin", "daily use"),
        sizes="beauty",
        segments=(("women", "adult", 18), ("men", "adult", 8), ("unisex", "adult", 8),
                  ("women", "senior", 4)),
        extra={"senior": ("peptides that care for mature skin",)},
    ),
    Sub(
        "haircare",
        plain("Shampoo", "Conditioner", "Hair Mask", "Styling Cream", "Dry Shampoo", "Hair Oil"),
        price=(7, 59),
        materials=("Sulfate-free", "Nourishing", "Volumizing", "Color-safe"),
        features=("argan oil", "keratin protein", "a clean, fresh scent", "frizz control",
                  "heat protection"),
        uses=("curly hair", "fine hair", "color-treated hair", "everyday use"),
        sizes="beauty",
        segments=(("women", "adult", 14), ("men", "adult", 8), ("unisex", "adult", 6)),
    ),
    Sub(
        "fragrance",
        {"Eau de Parfum": Item(), "Eau de Toilette": Item(), "Cologne": Item(only=("men",)),
         "Body Mist": Item((19, 39), only=("women",))},
        price=(29, 149),
        materials=("Fresh citrus", "Warm amber", "Floral", "Woody"),
        features=("notes of bergamot and cedar", "notes of jasmine and vanilla",
                  "notes of sea salt and sage", "long-lasting wear", "a refillable bottle"),
        uses=("everyday wear", "evenings out", "gifting"),
        sizes="fragrance",
        segments=(("women", "adult", 14), ("men", "adult", 12)),
    ),
    # -------------------------------------------------------------------------------- sports
    Sub(
        "yoga",
        {
            "Yoga Mat": Item(
                (24, 129), ("Natural rubber", "Eco TPE", "Cork"),
                ("a non-slip grip", "extra-thick 6 mm cushioning", "a carry strap",
                 "alignment lines")),
            "Yoga Block 2-Pack": Item(
                (14, 34), ("Cork", "High-density foam", "Bamboo"),
                ("a non-slip surface", "rounded, comfortable edges", "a lightweight build")),
            "Yoga Strap": Item(
                (9, 24), ("Cotton webbing",),
                ("a metal D-ring buckle", "an 8 ft length", "help with deeper stretches")),
            "Meditation Cushion": Item(
                (29, 79), ("Buckwheat-filled cotton",),
                ("a removable, washable cover", "a carry handle", "supportive height")),
            "Yoga Towel": Item(
                (19, 49), ("Microfiber",),
                ("non-slip silicone grip dots", "quick-dry fabric", "machine-washable fabric")),
        },
        price=(9, 129), materials=(), features=(),
        uses=("hot yoga", "home practice", "pilates", "stretching"),
        sizes="one",
        segments=(("unisex", "adult", 18), ("women", "adult", 12)),
        gender_label=False,
        brands=("ZenFlow", "Basecamp Co.", "Summit Gear"),
    ),
    Sub(
        "cycling",
        {
            "Bike Helmet": Item(
                (39, 199), ("Lightweight", "Aerodynamic"),
                ("MIPS impact protection", "an adjustable fit dial", "18 vents for airflow",
                 "a removable visor"),
                sizes="helmet", only=("unisex",)),
            "Cycling Gloves": Item(
                (19, 49), ("Lightweight", "Durable"),
                ("padded palms", "touchscreen-friendly fingertips", "a breathable mesh back",
                 "pull-off tabs"),
                sizes="apparel", only=("unisex",)),
            "Bike Light Set": Item(
                (24, 79), ("Bright", "Compact"),
                ("a rechargeable USB battery", "a 400-lumen front beam", "5 flash modes",
                 "tool-free mounting"),
                only=("unisex",)),
            "Padded Cycling Shorts": Item(
                (34, 119), ("Lightweight", "Compressive"),
                ("a chamois pad for long rides", "silicone leg grippers",
                 "flatlock seams that prevent chafing"),
                sizes="apparel", only=("unisex",)),
            "Bike Lock": Item(
                (24, 89), ("Heavy-duty", "Hardened steel"),
                ("a weather-resistant keyway", "a frame mount", "two keys"),
                only=("unisex",)),
            "Kids Bike Helmet": Item(
                (24, 59), ("Lightweight", "Colorful"),
                ("an adjustable fit dial", "a pinch-free buckle", "bright reflective details"),
                sizes="helmet", only=("kids",)),
        },
        price=(19, 199), materials=(), features=(),
        uses=("commuting", "road rides", "mountain trails", "weekend rides"),
        sizes="one",
        segments=(("unisex", "adult", 20), ("kids", "kids", 4)),
        gender_label=False,
        brands=("Velocity Cycle", "Summit Gear", "Ridgeline Outdoor", "Basecamp Co."),
    ),
    Sub(
        "camping",
        {
            "2-Person Tent": Item(
                (99, 399), ("Lightweight", "Weatherproof"),
                ("a quick, freestanding setup", "a waterproof rainfly", "two doors and vestibules",
                 "a compact carry bag")),
            "Sleeping Bag": Item(
                (49, 199), ("Packable", "Lightweight"),
                ("a 20°F temperature rating", "a draft collar", "a compression sack")),
            "Camping Chair": Item(
                (29, 89), ("Folding", "Rugged"),
                ("a built-in cup holder", "a 300 lb capacity", "a carry bag")),
            "Headlamp": Item(
                (19, 59), ("Rechargeable", "Lightweight"),
                ("a 350-lumen beam", "a red night-vision mode", "a water-resistant housing")),
            "Insulated Water Bottle": Item(
                (19, 49), ("Stainless steel", "Leakproof"),
                ("double-wall insulation", "cold drinks for 24 hours", "a leakproof lid")),
        },
        price=(19, 399), materials=(), features=(),
        uses=("backpacking", "car camping", "festivals", "family trips"),
        sizes="one",
        segments=(("unisex", "all", 30),),
        gender_label=False,
        brands=("Summit Gear", "Basecamp Co.", "Ridgeline Outdoor"),
    ),
    Sub(
        "fitness equipment",
        {
            "Adjustable Dumbbell Set": Item(
                (149, 449), ("Space-saving", "Heavy-duty"),
                ("quick weight adjustment from 5 to 50 lb", "a storage tray",
                 "a non-slip grip")),
            "Resistance Band Set": Item(
                (15, 39), ("Latex-free", "Durable"),
                ("five resistance levels", "padded handles", "a door anchor")),
            "Kettlebell": Item(
                (29, 99), ("Cast iron", "Vinyl-coated"),
                ("a wide, comfortable handle", "a flat, stable base", "a powder-coated grip")),
            "Foam Roller": Item(
                (19, 49), ("High-density", "Textured"),
                ("muscle recovery support", "a lightweight build", "trigger-point ridges")),
            "Jump Rope": Item(
                (12, 29), ("Speed", "Weighted"),
                ("an adjustable length", "smooth ball bearings", "a non-slip grip")),
            "Folding Treadmill": Item(
                (349, 499), ("Compact", "Space-saving"),
                ("a 2.5 HP motor", "12 preset programs", "a cushioned deck",
                 "fold-flat storage")),
        },
        price=(12, 499), materials=(), features=(),
        uses=("home workouts", "strength training", "recovery and mobility"),
        sizes="one",
        segments=(("unisex", "adult", 26), ("unisex", "senior", 4)),
        gender_label=False,
        extra={"senior": ("gentle, low-impact exercise for older adults",)},
        brands=("IronCore", "ZenFlow", "Basecamp Co."),
    ),
    # ---------------------------------------------------------------------------------- kids
    Sub(
        "toys",
        {
            "Building Blocks Set": Item((19, 79), uses=("ages 4 and up",)),
            "Wooden Puzzle": Item((9, 29), ("Eco-friendly wooden",), uses=("ages 3 and up",)),
            "Plush Toy": Item((9, 34), ("Super-soft",), uses=("ages 0 and up",)),
            "Remote Control Car": Item((29, 79), uses=("ages 6 and up",)),
            "Art Kit": Item((14, 44), uses=("ages 5 and up",)),
            "STEM Robot Kit": Item((39, 79), uses=("ages 8 and up",)),
            "Board Game": Item((14, 39), uses=("family game nights",)),
        },
        price=(9, 79),
        materials=("Colorful", "Award-winning", "Classic", "Bestselling"),
        features=("non-toxic materials", "rounded, child-safe edges", "hours of creative play",
                  "skill-building challenges", "easy-clean surfaces"),
        uses=(),
        sizes="one",
        segments=(("kids", "kids", 40),),
        gender_label=False,
        brands=("PlayNest", "Bright Minds", "Little Sprout"),
    ),
    Sub(
        "kids shoes",
        plain("Sneaker", "Light-Up Sneaker", "Rain Boot", "Sandal", "School Shoe"),
        price=(24, 79),
        materials=("Washable canvas", "Breathable mesh", "Durable synthetic", "Soft leather"),
        features=("easy on/off hook-and-loop straps", "a flexible non-slip sole",
                  "a reinforced toe for scuffs", "a cushioned insole", "a lightweight build"),
        uses=("school days", "playgrounds", "rainy days"),
        sizes="shoe",
        segments=(("kids", "kids", 36),),
        styles={"Easy-On": "easy on/off hook-and-loop closures",
                "Waterproof": "a waterproof upper"},
        shoe=True,
        brands=("TinyTrek", "Little Sprout", "Kinetix", "PlayNest"),
    ),
    Sub(
        "school bags",
        {
            "School Backpack": Item(
                (24, 69), features=("padded, adjustable straps", "a laptop sleeve",
                                    "reflective strips", "a water bottle pocket")),
            "Lunch Bag": Item(
                (14, 29), features=("an insulated compartment", "a wipe-clean lining",
                                    "a name tag")),
            "Pencil Case": Item(
                (9, 19), features=("two zippered compartments", "a wipe-clean lining",
                                   "elastic pen loops")),
            "Rolling Backpack": Item(
                (39, 69), features=("smooth-rolling wheels", "a telescoping handle",
                                    "padded, adjustable straps")),
        },
        price=(9, 69),
        materials=("Durable polyester", "Water-resistant", "Lightweight", "Recycled"),
        features=(),
        uses=("school days", "field trips", "sleepovers"),
        sizes="one",
        segments=(("kids", "kids", 16), ("unisex", "teen", 10)),
        gender_label=False,
        brands=("TinyTrek", "Bright Minds", "Little Sprout", "PlayNest"),
    ),
    # --------------------------------------------------------------------------- accessories
    Sub(
        "handbags",
        plain("Tote Bag", "Crossbody Bag", "Shoulder Bag", "Satchel", "Clutch"),
        price=(39, 299),
        materials=("Pebbled leather", "Vegan leather", "Woven straw", "Canvas and leather"),
        features=("an adjustable strap", "a zip-top closure", "multiple interior pockets",
                  "RFID-blocking card slots", "gold-tone hardware"),
        uses=("work", "weekends", "travel", "evenings out"),
        sizes="one",
        segments=(("women", "adult", 22),),
        gender_label=False,
        colors=("Black", "Brown", "Tan", "Navy", "Cognac", "Blush", "Cream", "Olive"),
    ),
    Sub(
        "sunglasses",
        plain("Aviator Sunglasses", "Round Sunglasses", "Wayfarer Sunglasses",
              "Sport Sunglasses"),
        price=(19, 189),
        materials=("Lightweight acetate", "Metal", "Flexible TR90", "Bio-based"),
        features=("polarized lenses", "100% UV protection", "scratch-resistant lenses",
                  "spring hinges", "a protective case"),
        uses=("driving", "beach days", "outdoor sports"),
        sizes="one",
        segments=(("men", "adult", 8), ("women", "adult", 10), ("unisex", "adult", 6)),
        colors=("Black", "Tortoise", "Gold", "Silver", "Crystal", "Navy"),
    ),
    Sub(
        "hats",
        {
            "Baseball Cap": Item(
                (14, 34), ("Cotton twill", "Washed canvas"),
                ("an adjustable back", "a moisture-wicking sweatband", "a curved brim"),
                ("sunny days", "travel", "game days")),
            "Bucket Hat": Item(
                (16, 39), ("Cotton canvas", "Packable nylon"),
                ("UPF 50+ sun protection", "a packable crown", "a moisture-wicking sweatband"),
                ("sunny days", "the beach", "festivals")),
            "Beanie": Item(
                (14, 39), ("Ribbed knit", "Merino wool"),
                ("a soft fleece lining", "a fold-over cuff", "a snug, stretchy fit"),
                ("cold weather", "winter walks")),
            "Sun Hat": Item(
                (19, 49), ("Packable straw", "Cotton"),
                ("UPF 50+ sun protection", "a wide brim", "an adjustable chin strap"),
                ("the beach", "gardening", "sunny days")),
            "Wool Fedora": Item(
                (29, 49), ("Wool felt",),
                ("a grosgrain band", "a structured brim", "a comfortable inner sweatband"),
                ("autumn days", "evenings out"),
                only=("men", "women", "unisex")),
        },
        price=(14, 49), materials=(), features=(), uses=(),
        sizes="hat",
        segments=(("men", "adult", 6), ("women", "adult", 6), ("unisex", "adult", 6),
                  ("kids", "kids", 4)),
    ),
]
# fmt: on


def _range(values: list[str], rng: random.Random, min_len: int) -> str:
    """A contiguous run of at least ``min_len`` sizes, e.g. ``7|8|9|10|11``."""
    start = rng.randrange(0, len(values) - min_len + 1)
    end = rng.randrange(start + min_len, len(values) + 1)
    return "|".join(values[start:end])


MEN_SHOE = ["7", "7.5", "8", "8.5", "9", "9.5", "10", "10.5", "11", "11.5", "12", "13"]
WOMEN_SHOE = ["5", "5.5", "6", "6.5", "7", "7.5", "8", "8.5", "9", "9.5", "10", "11"]
KIDS_SHOE = ["10K", "11K", "12K", "13K", "1", "2", "3", "4", "5"]
KIDS_APPAREL = ["4", "5", "6", "7", "8", "10", "12", "14"]


def _sizes(scheme: str, gender: str, rng: random.Random) -> str:
    kids = gender == "kids"
    if scheme == "shoe":
        if kids:
            return _range(KIDS_SHOE, rng, 5)
        values = WOMEN_SHOE if gender == "women" else MEN_SHOE
        if rng.random() < 0.4:  # whole sizes only
            values = [v for v in values if "." not in v]
        return _range(values, rng, 5)
    if scheme in ("apparel", "jeans") and kids:
        return _range(KIDS_APPAREL, rng, 4)
    if scheme == "apparel":
        return _range(["XS", "S", "M", "L", "XL", "XXL", "3XL"], rng, 4)
    if scheme == "jeans":
        if gender == "women":
            return _range(["0", "2", "4", "6", "8", "10", "12", "14", "16"], rng, 5)
        return _range(["28", "29", "30", "31", "32", "33", "34", "36", "38", "40"], rng, 5)
    choices = {
        "socks": ["S|M|L", "M|L|XL", "one size"],
        "watch": ["41 mm|45 mm", "40 mm|44 mm", "42 mm"],
        "laptop": ["13 in|15 in", "14 in|16 in", "15.6 in", "13 in|15 in|17 in"],
        "pillow": ["Standard|Queen|King", "Standard|King", "Queen|King"],
        "beauty": ["30 ml", "50 ml", "100 ml", "200 ml", "250 ml|500 ml"],
        "fragrance": ["30 ml|50 ml", "50 ml|100 ml", "100 ml", "30 ml|50 ml|100 ml"],
        "helmet": ["S|M|L", "M|L", "one size"],
        "hat": ["one size", "one size", "S/M|L/XL"],
    }
    if scheme == "bed":
        return _range(["Twin", "Twin XL", "Full", "Queen", "King", "California King"], rng, 3)
    if scheme == "hat" and kids:
        return "one size"
    if scheme in choices:
        return rng.choice(choices[scheme])
    return "one size"


def _price(lo: float, hi: float, tier: int, rng: random.Random) -> str:
    """A shop-like price (x.99, x.95, x.49 or whole) inside the range, placed by brand tier."""
    band = {0: (0.0, 0.4), 1: (0.25, 0.7), 2: (0.6, 1.0)}[tier]
    value = lo + (hi - lo) * rng.uniform(*band)
    whole = max(round(value), 2)
    cents = rng.choice([0.99, 0.99, 0.99, 0.95, 0.49, 0.0])
    price = whole - 1 + cents if cents else float(whole)
    return f"{price:.2f}"


def _rating(tier: int, rng: random.Random) -> str:
    base = {0: 3.9, 1: 4.2, 2: 4.4}[tier]
    value = min(5.0, max(2.4, rng.gauss(base, 0.35)))
    return f"{value:.1f}"


def _model(sub: Sub, rng: random.Random) -> str:
    if sub.category == "footwear":
        prefix = rng.choice(SHOE_PREFIX)
        suffix = rng.choice([s for s in SHOE_SUFFIX if s != prefix])
        return f"{prefix}{suffix}{rng.choice(SHOE_VERSIONS)}"
    if sub.category == "electronics":
        return f"{rng.choice(LINES['electronics'])} {rng.choice(MODEL_NUMBERS)}"
    return rng.choice(LINES[sub.category])


_GENDER_LABEL = {"men": "Men's", "women": "Women's", "kids": "Kids'", "unisex": ""}


def _name(sub: Sub, brand: str, gender: str, model: str, style: str, noun: str) -> str:
    label = _GENDER_LABEL[gender] if sub.gender_label else ""
    return " ".join(part for part in (brand, label, model, style, noun) if part)


_KEEP_CASE = {"Bluetooth", "Chelsea", "Oxford", "Derby", "Dutch", "Kids"}


def _noun_in_text(noun: str) -> str:
    """Lower-case a name noun for prose, keeping proper nouns and acronyms as written."""
    return " ".join(w.lower() if w.istitle() and w not in _KEEP_CASE else w for w in noun.split())


def _join(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return ", ".join(items[:-1]) + " and " + items[-1]


_STOP = {"with", "that", "extra", "your", "from", "made", "every", "keeps", "each"}


def _keywords(phrase: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", phrase.lower()) if len(w) > 3 and w not in _STOP}


def _pick_features(pool: list[str], chosen: list[str], want: int, rng: random.Random) -> None:
    """Add features from ``pool`` until ``want``, avoiding near-repeats ("arch support" twice)."""
    candidates = [f for f in pool if f not in chosen]
    rng.shuffle(candidates)
    for feature in candidates:
        if len(chosen) >= want:
            return
        used = set().union(*(_keywords(c) for c in chosen)) if chosen else set()
        if not _keywords(feature) & used:
            chosen.append(feature)
    for feature in candidates:  # small pools: allow overlap rather than too few features
        if len(chosen) >= want:
            return
        if feature not in chosen:
            chosen.append(feature)


def _description(
    sub: Sub, item: Item, gender: str, age: str, noun: str, style: str, rng: random.Random
) -> str:
    chosen: list[str] = []
    if style and sub.styles.get(style):
        chosen.append(sub.styles[style])
    senior_shoe = age == "senior" and sub.shoe
    if senior_shoe:
        _pick_features(SENIOR_SHOE_FEATURES, chosen, len(chosen) + 1, rng)
    for extra in sub.extra.get(age, ()):
        if extra not in chosen:
            chosen.append(extra)
    pool = list(item.features) + list(sub.features)
    if senior_shoe:
        pool += SENIOR_SHOE_FEATURES
    _pick_features(pool, chosen, 3, rng)
    material = rng.choice(item.materials or sub.materials)
    uses = item.uses or sub.uses
    use = rng.choice(uses)
    sentences = [f"{material} {_noun_in_text(noun)} with {_join(chosen[:2])}."]
    if chosen[2:]:
        sentences.append(f"Also features {_join(chosen[2:])}, made for {use}.")
    else:
        sentences.append(f"Made for {use}.")
    if senior_shoe:
        sentences.append(rng.choice(SENIOR_SHOE_SENTENCES))
    elif age == "senior" and sub.category == "apparel":
        sentences.append(rng.choice(SENIOR_SENTENCES))
    elif age == "kids" and rng.random() < 0.7:
        sentences.append(rng.choice(KIDS_SENTENCES))
    elif age == "teen":
        sentences.append(rng.choice(TEEN_SENTENCES))
    return " ".join(sentences)


def _pick_style(sub: Sub, age: str, rng: random.Random) -> str:
    style = rng.choice(list(sub.styles)) if sub.styles and rng.random() < 0.6 else ""
    if age == "senior" and sub.shoe:
        senior = [s for s in SENIOR_STYLES if s in sub.styles]
        if senior and rng.random() < 0.7:
            style = rng.choice(senior)
    return style


def _recipes_in_taxonomy_order() -> list[Sub]:
    """One recipe per product type of the taxonomy, in its order; segments name only the
    taxonomy's genders and age groups."""
    recipes = {sub.subcategory: sub for sub in RECIPES}
    if len(recipes) != len(RECIPES) or set(recipes) != set(taxonomy.SUBCATEGORIES):
        raise ValueError("RECIPES must hold exactly one recipe per product type of the taxonomy")
    for sub in RECIPES:
        for gender, age, _ in sub.segments:
            if gender not in taxonomy.GENDERS or age not in taxonomy.AGE_GROUPS:
                raise ValueError(f"{sub.subcategory}: unknown segment {gender}/{age}")
    return [recipes[name] for name in taxonomy.SUBCATEGORIES]


def generate_rows(seed: int = SEED) -> list[dict[str, str]]:
    """Build every product row, in a fixed order (subcategory by subcategory)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible sample data, not security
    rows: list[dict[str, str]] = []
    names: set[str] = set()
    for sub in _recipes_in_taxonomy_order():
        category_brands = BRANDS[sub.category]
        brands = {b: category_brands[b] for b in sub.brands} if sub.brands else category_brands
        colors = sub.colors or COLORS[sub.category]
        for gender, age, count in sub.segments:
            nouns = [n for n, it in sub.nouns.items() if not it.only or gender in it.only]
            for _ in range(count):
                for _attempt in range(500):
                    brand = rng.choice(list(brands))
                    noun = rng.choice(nouns)
                    style = _pick_style(sub, age, rng)
                    name = _name(sub, brand, gender, _model(sub, rng), style, noun)
                    if name not in names:
                        break
                else:  # pragma: no cover - the vocabularies are large enough
                    raise RuntimeError(f"no unique product name left in {sub.subcategory}")
                names.add(name)
                item = sub.nouns[noun]
                tier = brands[brand]
                rows.append(
                    {
                        "product_id": f"MR-{len(rows) + 1:06d}",
                        "name": name,
                        "brand": brand,
                        "category": sub.category,
                        "subcategory": sub.subcategory,
                        "gender": gender,
                        "age_group": age,
                        "price": _price(*(item.price or sub.price), tier, rng),
                        "rating": _rating(tier, rng),
                        "color": rng.choice(colors),
                        "sizes": _sizes(item.sizes or sub.sizes, gender, rng),
                        "description": _description(sub, item, gender, age, noun, style, rng),
                        "in_stock": "true" if rng.random() < 0.9 else "false",
                    }
                )
    return rows


def render(rows: list[dict[str, str]]) -> str:
    """The rows as CSV text: header first, ``\\n`` line endings, minimal quoting."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=taxonomy.COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def main(out_path: str | Path | None = None) -> Path:
    """Write the catalog to ``out_path`` (default: ``catalog.csv`` here); return the path."""
    default = Path(__file__).resolve().with_name("catalog.csv")
    path = Path(out_path) if out_path is not None else default
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = generate_rows()
    path.write_bytes(render(rows).encode("utf-8"))
    subcategories = len({row["subcategory"] for row in rows})
    print(f"wrote {len(rows)} products in {subcategories} subcategories to {path}")
    return path


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else None)
