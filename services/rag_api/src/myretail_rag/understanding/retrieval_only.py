"""Answers without a chat model: a Markdown table of the best matching products.

Each answer records its search in the session history (query turns, constraints, order,
product ids), so follow-ups work without a model:

* **Structured follow-up** (no new product type; an order, a price bound, or a person
  such as "for women", "for a teenager"):
  - an order alone ("sort the results by price in descending order", "cheapest first",
    "best rated first") re-orders *the same products*;
  - a price bound or a person re-runs the previous search with that constraint added
    (so there are still up to ``k`` products), keeping the previous order if any.
* **Other follow-ups** without a product type ("any waterproof ones?") search again with
  the recent user turns combined (up to three) and the earlier constraints.
* **A new product type** ("and some sweaters") starts a new search; who it is for
  (gender, age) carries over unless the message says otherwise.

README.md describes exactly what the rules understand.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import Any

from myretail_rag.catalog.vector_store import Hit
from myretail_rag.understanding.constraints import Constraints, Sort
from myretail_rag.understanding.query_parser import ParsedQuery
from myretail_rag.understanding.search import CatalogSearch

MAX_QUERY_TURNS = 3
WEAK_MATCH = 0.3  # best similarity below this: say the request was not understood well
REASON_CHARS = 110
_LABEL_GENDER = {"men": "men", "women": "women", "unisex": "everyone", "kids": "kids"}
_LABEL_AGE = {"senior": "seniors", "adult": "adults", "teen": "teens", "kids": "kids", "all": ""}


@dataclass
class SearchState:
    """What a retrieval-only answer searched for (stored with the answer in the history)."""

    query_turns: list[str] = field(default_factory=list)
    constraints: Constraints = field(default_factory=Constraints)
    sort: Sort | None = None
    product_ids: list[str] = field(default_factory=list)

    @property
    def query(self) -> str:
        return " ".join(self.query_turns)

    def to_dict(self) -> dict[str, Any]:
        return {
            "query_turns": list(self.query_turns),
            "constraints": self.constraints.to_dict(),
            "sort": self.sort.to_dict() if self.sort else None,
            "product_ids": list(self.product_ids),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> SearchState | None:
        if not isinstance(data, dict) or not data.get("query_turns"):
            return None
        return cls(
            query_turns=[str(turn) for turn in data.get("query_turns", [])][-MAX_QUERY_TURNS:],
            constraints=Constraints.from_dict(data.get("constraints")),
            sort=Sort.from_dict(data.get("sort")),
            product_ids=[str(point) for point in data.get("product_ids", [])],
        )


@dataclass
class RetrievalAnswer:
    text: str
    hits: list[Hit]
    state: SearchState


def _sort_key(hit: Hit, field_name: str) -> float:
    value = hit.metadata.get(field_name)
    return float(value) if isinstance(value, int | float) else 0.0


def plan(parsed: ParsedQuery, previous: SearchState | None) -> tuple[SearchState, bool]:
    """The search to run for this message, and whether it re-orders the previous products."""
    if previous is not None and parsed.is_refinement:
        only_order = parsed.sort is not None and parsed.constraints.is_empty()
        if only_order and previous.product_ids:
            return (
                SearchState(
                    previous.query_turns,
                    previous.constraints,
                    parsed.sort,
                    previous.product_ids,
                ),
                True,
            )
        return (
            SearchState(
                previous.query_turns,
                previous.constraints.merged(parsed.constraints),
                parsed.sort or previous.sort,
            ),
            False,
        )
    if previous is not None and not parsed.names_product:
        turns = [*previous.query_turns, parsed.text][-MAX_QUERY_TURNS:]
        return (
            SearchState(turns, previous.constraints.merged(parsed.constraints), parsed.sort),
            False,
        )
    carried = previous.constraints.person_only() if previous is not None else Constraints()
    return SearchState([parsed.text], carried.merged(parsed.constraints), parsed.sort), False


@dataclass
class Plan:
    """What answering a message takes: its search, and whether it only re-orders."""

    message: str
    state: SearchState
    reorder: bool

    @property
    def needs_embedding(self) -> bool:
        return not self.reorder


def plan_answer(search: CatalogSearch, message: str, previous: SearchState | None) -> Plan:
    """Read the message (the catalog's vocabulary may be read from Qdrant: a worker
    thread's job) and plan its search."""
    state, reorder = plan(search.parse(message), previous)
    return Plan(message, state, reorder)


def complete(
    search: CatalogSearch, planned: Plan, vector: list[float] | None, k: int
) -> RetrievalAnswer:
    """Search (``vector``: the embedded ``planned.state.query``), order, render."""
    state = planned.state
    if planned.reorder:
        hits = search.store.retrieve(state.product_ids)
    else:
        assert vector is not None, "a new search needs the query's vector"
        hits = search.search_by_vector(vector, state.constraints, k)
    if state.sort is not None:
        hits = state.sort.apply(hits, _sort_key)
    state.product_ids = [hit.point_id for hit in hits]
    return RetrievalAnswer(render(hits, state, planned.reorder, planned.message), hits, state)


def answer(
    search: CatalogSearch, message: str, previous: SearchState | None, k: int
) -> RetrievalAnswer:
    """The retrieval-only answer to ``message`` given the previous answer's search."""
    planned = plan_answer(search, message, previous)
    vector = search.embed(planned.state.query) if planned.needs_embedding else None
    return complete(search, planned, vector, k)


async def answer_async(
    search: CatalogSearch, message: str, previous: SearchState | None, k: int
) -> RetrievalAnswer:
    """:func:`answer` for the event loop: Qdrant in worker threads, the embedding awaited
    (batched with concurrent requests' questions)."""
    planned = await asyncio.to_thread(plan_answer, search, message, previous)
    vector = await search.aembed(planned.state.query) if planned.needs_embedding else None
    return await asyncio.to_thread(complete, search, planned, vector, k)


def render(hits: list[Hit], state: SearchState, reordered: bool, message: str) -> str:
    """Markdown: one sentence, then the table (or a clear "nothing found")."""
    wanted = state.constraints.describe()
    if not hits:
        what = f" ({wanted})" if wanted else ""
        return (
            f"I could not find any products matching your request{what}. "
            "Try a wider price range or another product type."
        )
    if reordered and state.sort is not None:
        intro = f"Here are the same {len(hits)} products, sorted {state.sort.describe()}:"
    elif max(hit.score for hit in hits) < WEAK_MATCH and not wanted:
        intro = (
            "I am not sure which products you mean; these are the closest matches in the "
            "catalog. Try naming a product type, who it is for, or a budget:"
        )
    else:
        intro = f"Here are the {len(hits)} best matches"
        intro += f" ({wanted})" if wanted else ""
        intro += f", sorted {state.sort.describe()}:" if state.sort else ":"
    lines = [
        intro,
        "",
        "| # | Product | Brand | Price | Rating | Why it fits |",
        "|---|---|---|---|---|---|",
    ]
    for number, hit in enumerate(hits, start=1):
        meta = hit.metadata
        lines.append(
            "| {n} | {name} | {brand} | ${price:.2f} | {rating:.1f} ★ | {reason} |".format(
                n=number,
                name=_cell(str(meta.get("name", ""))),
                brand=_cell(str(meta.get("brand", ""))),
                price=float(meta.get("price") or 0),
                rating=float(meta.get("rating") or 0),
                reason=_cell(reason(meta, state.query or message)),
            )
        )
    return "\n".join(lines)


_STOP = {
    "a",
    "an",
    "and",
    "the",
    "for",
    "of",
    "in",
    "on",
    "with",
    "to",
    "my",
    "me",
    "please",
    "suggest",
    "show",
    "some",
    "any",
    "table",
    "format",
    "can",
    "you",
    "i",
    "want",
    "need",
    "year",
    "years",
    "old",
    "is",
    "are",
    "that",
    "it",
    "which",
    "what",
    "about",
}
_AUDIENCE_WORDS = {
    "senior": {"older", "senior", "seniors", "stable", "stability", "slip", "easy"},
    "teen": {"teens", "teen"},
    "kids": {"kids", "children", "child"},
}


def reason(metadata: dict[str, Any], query: str) -> str:
    """One line: the product type and audience, then the description sentence that best
    matches the shopper's words (and, for seniors, teens or kids, the words that speak to
    them)."""
    audience = _LABEL_GENDER.get(str(metadata.get("gender")), "")
    age_group = str(metadata.get("age_group"))
    age = _LABEL_AGE.get(age_group, "")
    who = " ".join(part for part in (audience, f"({age})" if age else "") if part)
    subcategory = str(metadata.get("subcategory", ""))
    head = f"{subcategory.capitalize()} for {who}".strip()
    sentences = [
        s.strip() for s in re.split(r"(?<=[.!?])\s+", str(metadata.get("description", ""))) if s
    ]
    words = set(re.findall(r"[a-z]+", query.lower())) - _STOP - set(subcategory.split())
    words |= _AUDIENCE_WORDS.get(age_group, set())

    def overlap(item: tuple[int, str]) -> tuple[int, int]:
        position, sentence = item
        return (len(words & set(re.findall(r"[a-z]+", sentence.lower()))), -position)

    best = max(enumerate(sentences), key=overlap, default=(0, ""))[1]
    text = f"{head}: {best}" if best else head
    if not metadata.get("in_stock", True):
        text = f"{text} (out of stock)"
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1].rstrip() + "…"


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "/").split())
