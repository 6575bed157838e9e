"""Checks on the committed sample data in ``data/``: schema, realism and reproducibility.

The catalog feeds the Shopping (RAG) assistant, the loyalty Q&A files train and evaluate the
Loyalty assistant, and every loyalty answer must agree with ``docs/myelite-program.md``.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import sys
from collections import Counter
from pathlib import Path
from types import ModuleType

import pytest

from myretail_rag.catalog import taxonomy

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
POLICY = ROOT / "docs" / "myelite-program.md"

COLUMNS = list(taxonomy.COLUMNS)
TIERS = ("Member", "Silver", "Gold", "Platinum")
# Tier-like words an answer could invent; any that appears must be a real tier in the policy.
TIER_WORDS = (*TIERS, "Bronze", "Diamond", "Titanium", "Elite Plus", "VIP")


def _load(name: str) -> ModuleType:
    path = DATA / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"sample_data_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


# ------------------------------------------------------------------------------------ catalog


@pytest.fixture(scope="module")
def catalog_text() -> str:
    return (DATA / "catalog.csv").read_bytes().decode("utf-8")


@pytest.fixture(scope="module")
def catalog(catalog_text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(catalog_text.splitlines()))


def test_catalog_columns_and_line_endings(catalog_text: str) -> None:
    header = catalog_text.split("\n", 1)[0]
    assert header.split(",") == COLUMNS
    assert "\r" not in catalog_text
    assert catalog_text.endswith("\n")


def test_catalog_size_and_variety(catalog: list[dict[str, str]]) -> None:
    assert len(catalog) >= 1000
    subcategories = {row["subcategory"] for row in catalog}
    assert len(subcategories) >= 25
    assert subcategories == set(taxonomy.SUBCATEGORIES)
    categories = {row["category"] for row in catalog}
    assert set(taxonomy.CATEGORIES) <= categories
    for row in catalog:
        assert taxonomy.category_of(row["subcategory"]) == row["category"], row
    assert len({row["brand"] for row in catalog}) >= 20


def test_catalog_field_values(catalog: list[dict[str, str]]) -> None:
    for row in catalog:
        assert list(row) == COLUMNS, row
        assert all(isinstance(v, str) and v.strip() for v in row.values()), row
        assert re.fullmatch(r"MR-\d{6}", row["product_id"]), row["product_id"]
        assert row["gender"] in taxonomy.GENDERS, row
        assert row["age_group"] in taxonomy.AGE_GROUPS, row
        assert re.fullmatch(r"\d+\.\d{2}", row["price"]), row["price"]
        assert float(row["price"]) > 0, row
        assert re.fullmatch(r"\d\.\d", row["rating"]), row["rating"]
        assert 0.0 <= float(row["rating"]) <= 5.0, row
        assert row["in_stock"] in {"true", "false"}, row
        assert row["sizes"] == "one size" or all(s.strip() for s in row["sizes"].split("|"))
        sentences = [s for s in re.split(r"(?<=[.!?])\s+", row["description"]) if s]
        assert 1 <= len(sentences) <= 3, row["description"]
        assert row["brand"] in row["name"], row


def test_product_ids_unique(catalog: list[dict[str, str]]) -> None:
    ids = [row["product_id"] for row in catalog]
    assert len(ids) == len(set(ids))


def test_names_are_not_templated(catalog: list[dict[str, str]]) -> None:
    names = [row["name"] for row in catalog]
    assert len(set(names)) >= 0.9 * len(names)
    assert not any(re.search(r"\bProduct \d+\b", name) for name in names)
    descriptions = [row["description"] for row in catalog]
    assert len(set(descriptions)) >= 0.9 * len(descriptions)


def test_realistic_spread_of_prices_ratings_and_stock(catalog: list[dict[str, str]]) -> None:
    walking = [float(r["price"]) for r in catalog if r["subcategory"] == "walking shoes"]
    assert min(walking) < 60 and max(walking) > 150
    ratings = Counter(r["rating"] for r in catalog)
    assert len(ratings) >= 15
    stock = Counter(r["in_stock"] for r in catalog)
    assert stock["true"] > stock["false"] > 0


def test_walking_shoes_for_men_and_seniors(catalog: list[dict[str, str]]) -> None:
    walking = [r for r in catalog if r["subcategory"] == "walking shoes"]
    men = [r for r in walking if r["gender"] == "men" and r["age_group"] in {"adult", "senior"}]
    assert len(men) >= 20
    senior_men = [r for r in men if r["age_group"] == "senior"]
    assert len(senior_men) >= 10
    assert all(
        "older adults" in r["description"] or "seniors" in r["description"] for r in senior_men
    )
    senior_words = ("stable", "arch support", "slip-resistant", "easy on/off")
    for word in senior_words:
        assert any(word in r["description"].lower() for r in senior_men), word
    women_or_senior = [r for r in walking if r["gender"] == "women" or r["age_group"] == "senior"]
    assert len(women_or_senior) >= 20
    running = [r for r in catalog if r["subcategory"] == "running shoes"]
    assert {"men", "women"} <= {r["gender"] for r in running}


def test_catalog_regenerates_byte_identical(tmp_path: Path, catalog_text: str) -> None:
    module = _load("generate_catalog")
    out = tmp_path / "catalog.csv"
    module.main(out)
    assert out.read_bytes() == catalog_text.encode("utf-8")


# ------------------------------------------------------------------------------- loyalty Q&A


def _read_jsonl(path: Path) -> list[dict[str, str]]:
    text = path.read_bytes().decode("utf-8")
    assert "\r" not in text and text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


@pytest.fixture(scope="module")
def train() -> list[dict[str, str]]:
    return _read_jsonl(DATA / "loyalty_qa_train.jsonl")


@pytest.fixture(scope="module")
def val() -> list[dict[str, str]]:
    return _read_jsonl(DATA / "loyalty_qa_val.jsonl")


@pytest.fixture(scope="module")
def policy() -> str:
    return POLICY.read_text(encoding="utf-8")


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def test_qa_sizes(train: list[dict[str, str]], val: list[dict[str, str]]) -> None:
    assert len(train) >= 200
    assert len(val) >= 40


def test_qa_rows_well_formed(train: list[dict[str, str]], val: list[dict[str, str]]) -> None:
    for row in train + val:
        assert set(row) == {"prompt", "response", "key_fact"}, row
        for key in ("prompt", "response", "key_fact"):
            assert isinstance(row[key], str) and row[key].strip(), row
        assert row["key_fact"] in row["response"], row
        assert len(row["response"].split()) <= 25, row  # short enough for the tiny model


def test_train_has_several_phrasings_per_answer(train: list[dict[str, str]]) -> None:
    prompts = [_norm(r["prompt"]) for r in train]
    assert len(prompts) == len(set(prompts))
    per_answer = Counter(r["response"] for r in train)
    assert min(per_answer.values()) >= 2
    assert max(per_answer.values()) <= 4


def test_val_is_paraphrased_and_covered_by_train(
    train: list[dict[str, str]], val: list[dict[str, str]]
) -> None:
    train_prompts = {_norm(r["prompt"]) for r in train}
    train_answers = {r["response"] for r in train}
    train_facts = {r["key_fact"] for r in train}
    for row in val:
        assert _norm(row["prompt"]) not in train_prompts, row
        assert row["key_fact"] in train_facts or any(row["key_fact"] in a for a in train_answers)
        assert row["response"] in train_answers, row
    assert len({_norm(r["prompt"]) for r in val}) == len(val)


_NUMBER = re.compile(r"\$?(\d+(?:,\d{3})*(?:\.\d+)?)(%?)")


def _numbers(text: str) -> set[str]:
    """Numbers as they must appear in the policy: "$5,000" -> "5,000", "5%" stays "5%"."""
    return {value + pct for value, pct in _NUMBER.findall(text)}


def _has_number(text: str, number: str) -> bool:
    return re.search(rf"(?<![\d,.]){re.escape(number)}(?![\d,]|\.\d)", text) is not None


def _tiers(text: str) -> set[str]:
    return {t for t in TIER_WORDS if re.search(rf"\b{re.escape(t)}\b", text)}


def _tier_segments(policy: str) -> dict[str, list[str]]:
    """What the policy says about each tier: its paragraphs, bullets and table rows (wrapped
    lines joined), cut at every tier name so "Silver 1%, Gold 2%" gives "Gold 2%" to Gold."""
    blocks: list[str] = []
    for line in policy.splitlines():
        if line.startswith("  ") and blocks:
            blocks[-1] += " " + line.strip()
        else:
            blocks.append(line)
    tier_re = re.compile(r"\b(" + "|".join(TIERS) + r")\b")
    segments: dict[str, list[str]] = {tier: [] for tier in TIERS}
    for block in blocks:
        starts = list(tier_re.finditer(block))
        for i, match in enumerate(starts):
            end = starts[i + 1].start() if i + 1 < len(starts) else len(block)
            segments[match.group(1)].append(block[match.start() : end])
    return segments


def test_key_facts_are_policy_text(
    train: list[dict[str, str]], val: list[dict[str, str]], policy: str
) -> None:
    text = _norm(policy)
    for key_fact in sorted({r["key_fact"] for r in train + val}):
        assert _norm(key_fact) in text, key_fact


def test_answers_agree_with_policy(
    train: list[dict[str, str]], val: list[dict[str, str]], policy: str
) -> None:
    segments = _tier_segments(policy)
    for response in sorted({r["response"] for r in train + val}):
        numbers = _numbers(response)
        for number in numbers:
            assert _has_number(policy, number), (number, response)
        tiers = _tiers(response)
        for tier in tiers:
            assert re.search(rf"\b{tier}\b", policy), (tier, response)
        # An answer about one tier must say what the policy says about that tier: some
        # statement about the tier carries all of the answer's numbers.
        if len(tiers) == 1 and numbers:
            (tier,) = tiers
            assert any(
                all(_has_number(segment, n) for n in numbers) for segment in segments[tier]
            ), (tier, numbers, response)


def test_policy_covers_required_topics(policy: str) -> None:
    lowered = policy.lower()
    for topic in (
        "points per",
        "cashback",
        "expire",
        "birthday",
        "free standard shipping",
        "returns window",
        "price match",
        "tier review",
        "referral",
        "account closure",
        "myretail.com/myelite",
        "1-800-693-5483",
    ):
        assert topic in lowered, topic
    for tier in TIERS:
        assert tier in policy


def test_qa_regenerates_byte_identical(tmp_path: Path) -> None:
    module = _load("generate_loyalty_qa")
    train_path, val_path = module.generate(tmp_path)
    assert train_path.read_bytes() == (DATA / "loyalty_qa_train.jsonl").read_bytes()
    assert val_path.read_bytes() == (DATA / "loyalty_qa_val.jsonl").read_bytes()
