"""Incremental text and stop sequences: the same text as decoding everything at once, with
work per token that does not grow with the answer."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from myretail_inference.detokenizer import IncrementalText, StopScanner
from myretail_testkit.llama3 import llama3_tokenizer

TEXT = (
    "MyElite's Gold tier earns 3 points per $1 — café, naïve, 東京, emoji 🎉🎉, and "
    "a line break\n### not a question\n" * 12
)


class CountingTokenizer:
    """A tokenizer whose ``decode`` calls are recorded (how many tokens each one saw)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.decoded: list[int] = []

    def decode(self, ids: list[int], **kwargs: Any) -> str:
        self.decoded.append(len(ids))
        text: str = self.tokenizer.decode(ids, **kwargs)
        return text


@pytest.fixture(scope="module", params=["llama3", "tiny"])
def tokenizer(request: pytest.FixtureRequest, tiny_base: Path) -> Any:
    if request.param == "llama3":
        return llama3_tokenizer()
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_base)


def test_pieces_add_up_to_the_whole_decode(tokenizer: Any) -> None:
    ids = tokenizer(TEXT, add_special_tokens=False)["input_ids"]
    counting = CountingTokenizer(tokenizer)
    text = IncrementalText(counting)
    pieces = [text.add(token) for token in ids]
    pieces.append(text.flush())
    expected = tokenizer.decode(ids, skip_special_tokens=True, clean_up_tokenization_spaces=False)
    assert "".join(pieces) == expected
    assert not any("\ufffd" in piece for piece in pieces)  # multi-byte characters wait
    # Bounded work: every decode saw a short window, whatever the length of the answer.
    assert len(ids) > 300
    assert max(counting.decoded) <= 10


def test_special_tokens_add_no_text_and_keep_the_window_small() -> None:
    tokenizer = llama3_tokenizer()
    counting = CountingTokenizer(tokenizer)
    text = IncrementalText(counting)
    eot = tokenizer.convert_tokens_to_ids("<|eot_id|>")
    pieces = [
        text.add(token) for token in [eot] * 50 + tokenizer.encode("Gold", add_special_tokens=False)
    ]
    assert "".join(pieces) == "Gold"
    assert max(counting.decoded) <= 3


def test_invalid_bytes_do_not_grow_the_window() -> None:
    tokenizer = llama3_tokenizer()
    lone_continuation = tokenizer.convert_tokens_to_ids("\u0122")  # a byte token, not UTF-8 alone
    counting = CountingTokenizer(tokenizer)
    text = IncrementalText(counting)
    for _ in range(100):
        text.add(lone_continuation)
    # Waits at most 8 tokens for a character to complete: windows of at most 2 x 8.
    assert max(counting.decoded) <= 16


def test_stops_are_found_across_pieces_at_their_absolute_position() -> None:
    scanner = StopScanner(["### Question:", "\n###"])
    text = "Gold earns 3 points.\n### Question: more"
    pieces = ["Gold earns", " 3 points.", "\n#", "#", "# Quest", "ion: more"]
    found = [scanner.feed(piece) for piece in pieces]
    # Found as soon as it was complete ("# Quest" ends "\n###"), at its place in the text.
    assert found == [None, None, None, None, text.index("\n###"), text.index("\n###")]


def test_stop_scanning_looks_at_a_bounded_window() -> None:
    scanner = StopScanner(["END!"])
    windows: list[int] = []
    for index in range(5000):
        assert scanner.feed(f"w{index % 10} ") is None
        windows.append(len(scanner._tail))
    assert max(windows) <= 3  # the longest stop minus one
    assert scanner.feed("EN") is None
    assert scanner.feed("D!") == scanner.length - 4


def test_no_stops_means_no_scanning() -> None:
    scanner = StopScanner([])
    assert scanner.feed("### Question:") is None
    assert scanner.length == len("### Question:")
