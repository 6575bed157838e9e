"""A streamed answer made inert piece by piece (:mod:`myretail_common.safe_markdown`).

:func:`~myretail_common.safe_markdown.inert_markdown` decides on a character and the one
after it (``!`` before ``[``, ``<`` before a tag's first character). A piece that ends in
``!`` or ``<`` cannot be decided yet, so :class:`InertStream` holds that one character back
until the next piece arrives: what it returns, joined, is exactly ``inert_markdown`` of the
whole answer, and no piece a browser sees can load anything.
"""

from __future__ import annotations

from myretail_common.safe_markdown import inert_markdown

_UNDECIDED = ("!", "<")


class InertStream:
    """``feed`` each piece as it arrives, ``flush`` at the end; both return inert text."""

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        text = self._held + piece
        self._held = ""
        if text.endswith(_UNDECIDED):
            text, self._held = text[:-1], text[-1]
        return inert_markdown(text)

    def flush(self) -> str:
        text, self._held = self._held, ""
        return inert_markdown(text)
