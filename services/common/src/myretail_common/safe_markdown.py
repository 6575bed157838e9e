"""Markdown that is safe to render: nothing in it loads on its own.

A model's answer is rendered as Markdown in the shopper's browser. If it held an image, the
browser would fetch its URL at once, and a prompt-injected answer could put anything it saw
(the chat, a product list) into that URL: exfiltration without a click. So every answer we
render or hand to a renderer goes through :func:`inert_markdown` first:

* image syntax in every form (``![alt](url)``, ``![alt][ref]``, ``![alt]``) loses its ``!``
  and becomes an ordinary link, which loads nothing until clicked;
* raw HTML (``<img>``, ``<picture>``, ``<svg>``, ``<iframe>``, styles with ``url()``, ...)
  is escaped, so it shows as text instead of becoming elements.

Tables, emphasis, lists, code and links stay as they are.
"""

from __future__ import annotations

import re

# "![" starts an image in every Markdown flavour; "[" alone is a link.
_IMAGE_START = re.compile(r"!(?=\[)")
# "<" followed by a letter, "/", "!" or "?" starts a tag, a closing tag, a comment or a
# processing instruction; any other "<" (as in "under <$50") is text already.
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


def inert_markdown(text: str) -> str:
    """``text`` without images or raw HTML (see the module docstring)."""
    return _TAG_START.sub("&lt;", _IMAGE_START.sub("", text))
