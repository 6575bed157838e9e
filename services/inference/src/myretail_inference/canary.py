"""Which served tag answers a request: the stable tag, or the canary for a share of sessions.

The rule, one for every route: a request's *session key* is its ``X-Session-Id`` header,
else the OpenAI ``user`` field; ``sha256("<canary tag>:<key>")`` puts the session in one
of 100 buckets, and buckets below ``CANARY_WEIGHT`` go to the canary. So a session stays
with one tag for as long as the weight and the canary tag stay (in every replica and
across restarts), raising the weight only moves more sessions to the canary, and a new
canary tag draws a new sample of sessions. A request without a key is assigned on its own.
A client may also name a served tag outright (``"model": "<name>:<tag>"``).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

SESSION_HEADER = "X-Session-Id"
BUCKETS = 100


def session_bucket(canary_tag: str, session_key: str) -> int:
    """The session's bucket, 0..99: stable across processes (unlike Python's ``hash``)."""
    digest = hashlib.sha256(f"{canary_tag}:{session_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


@dataclass(frozen=True)
class TagRouter:
    """Picks the tag of each request: ``canary`` for ``weight`` percent of sessions."""

    stable: str
    canary: str | None = None
    weight: int = 0

    def choose(self, session_key: str | None) -> str:
        if not self.canary or self.weight <= 0:
            return self.stable
        if self.weight >= BUCKETS:
            return self.canary
        if session_key:
            bucket = session_bucket(self.canary, session_key)
        else:
            bucket = random.randrange(BUCKETS)  # noqa: S311 (a traffic split, not a secret)
        return self.canary if bucket < self.weight else self.stable
