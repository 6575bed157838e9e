"""Quoting what a client sent, safely: a short prefix, in text any encoder can write.

Messages (errors, logs) may name what was asked for, but never repeat a whole submission:
it may be long, hold a secret, or hold text UTF-8 cannot encode (a lone surrogate), which
would turn a 4xx into a 5xx while the message is written.
"""

from __future__ import annotations

CLIENT_TEXT_CHARS = 40


def encodable(text: str) -> str:
    """``text`` with anything UTF-8 cannot hold (lone surrogates) replaced."""
    return text.encode("utf-8", "replace").decode("utf-8")


def bounded(text: str, limit: int) -> str:
    """``text`` encodable and at most ``limit`` characters (an ellipsis marks a cut)."""
    text = encodable(text)
    return text if len(text) <= limit else f"{text[: limit - 1]}…"


def client_text(value: object, limit: int = CLIENT_TEXT_CHARS) -> str:
    """A short, quoted prefix of something a client sent, for a message."""
    text = value if isinstance(value, str) else str(value)
    shown = repr(encodable(text[:limit]))
    return f"{shown}…" if len(text) > limit else shown
