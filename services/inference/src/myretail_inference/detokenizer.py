"""Text of a generation, token by token, with bounded work per token.

:class:`IncrementalText` decodes only a short window of the newest tokens (the standard
prefix/read-offset method of Hugging Face's text streamer and vLLM), so the cost of a
token does not grow with the answer. :class:`StopScanner` finds stop sequences by
looking only at the newly decoded text plus the few characters before it that a stop
sequence could straddle. :func:`visible_text` says how much of a generation's text may be
shown yet (both engines, native and remote, stream by it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from myretail_inference.engine_api import SamplingParams

# An incomplete UTF-8 character waits for its next bytes, but never for more tokens than
# this: a model emitting invalid byte sequences must not grow the window without bound.
_MAX_PENDING_TOKENS = 8
_REPLACEMENT = "\ufffd"


def encode_prompt(tokenizer: Any, text: str) -> list[int]:
    """The token ids of a prompt, as every engine counts and sends them (BOS included)."""
    ids: list[int] = tokenizer(text, add_special_tokens=True, verbose=False)["input_ids"]
    return ids


class IncrementalText:
    """Decoded text of a growing token list (special tokens skipped)."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        self.ids: list[int] = []
        self._prefix = 0  # first token of the decoding window (context for the delta)
        self._read = 0  # tokens before this one are already turned into text
        self._prefix_text = ""

    def _decode(self, ids: Sequence[int]) -> str:
        text: str = self.tokenizer.decode(
            ids, skip_special_tokens=True, clean_up_tokenization_spaces=False
        )
        return text

    def add(self, token: int) -> str:
        """Append ``token``; returns the text it completes (may be empty)."""
        self.ids.append(token)
        window = self._decode(self.ids[self._prefix :])
        pending = len(self.ids) - self._read
        if window.endswith(_REPLACEMENT) and pending < _MAX_PENDING_TOKENS:
            return ""
        return self._advance(window)

    def flush(self) -> str:
        """Whatever is still held back (an incomplete character), at the end."""
        if self._read == len(self.ids):
            return ""
        return self._advance(self._decode(self.ids[self._prefix :]))

    def _advance(self, window: str) -> str:
        delta = window[len(self._prefix_text) :]
        self._prefix, self._read = self._read, len(self.ids)
        self._prefix_text = self._decode(self.ids[self._prefix : self._read])
        return delta


class StopScanner:
    """Finds the first stop sequence in a text that arrives in pieces."""

    def __init__(self, stops: Sequence[str]) -> None:
        self.stops = tuple(stops)
        self._overlap = max((len(stop) for stop in self.stops), default=1) - 1
        self._tail = ""  # the last characters a stop sequence could start in
        self.length = 0  # characters seen so far

    def feed(self, piece: str) -> int | None:
        """Add ``piece``; returns the absolute position of the first stop found, if any."""
        if not self.stops or not piece:
            self.length += len(piece)
            return None
        window = self._tail + piece
        offset = self.length - len(self._tail)
        self.length += len(piece)
        self._tail = window[len(window) - self._overlap :] if self._overlap else ""
        found = [position for stop in self.stops if (position := window.find(stop)) != -1]
        return offset + min(found) if found else None


def visible_text(text: str, params: SamplingParams, final: bool) -> str:
    """The part of the decoded text that may be shown now (stream and final alike)."""
    if params.trim_whitespace:
        text = text.lstrip()
    if final:
        return text.rstrip() if params.trim_whitespace else text
    return text[: len(text) - held_back(text, params)]


def held_back(text: str, params: SamplingParams) -> int:
    """Characters at the end of ``text`` that cannot be shown yet: an incomplete UTF-8
    character, the start of a possible stop sequence, whitespace an answer may end with."""
    kept = text.rstrip("\ufffd")
    hold = _stop_prefix_hold(kept, params.stop)
    if hold:
        kept = kept[:-hold]
    if params.trim_whitespace:
        kept = kept.rstrip()
    return len(text) - len(kept)


def _stop_prefix_hold(text: str, stops: Sequence[str]) -> int:
    """Length of the longest end of ``text`` that could start a stop sequence."""
    hold = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), hold, -1):
            if text.endswith(stop[:size]):
                hold = size
                break
    return hold
