"""Helpers for tests that run the real components over loopback (only tests import this).

``make_settings`` (everything local under a folder, no chat model), ``small_csv`` (a
catalog CSV from rows), ``redis_server.RedisServer`` (a real redis-server from Debian)
and ``qdrant_gateway.QdrantGateway`` (Qdrant's REST API over embedded Qdrant, standing in
for a Qdrant server, which cannot be installed here).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from myretail_rag.catalog.taxonomy import COLUMNS
from myretail_rag.settings import RagSettings

BOOK_QUESTION = "Please suggest walking shoes for a 60 year old man, in a table format"
SORT_QUESTION = "Can you sort the results by price in descending order?"
HEADER = ",".join(COLUMNS)
MINI_ROWS = [
    "T-1,StrideWell Men's Senior Comfort Walking Shoe,StrideWell,footwear,walking shoes,men,"
    'senior,79.99,4.5,Navy,8|9|10,"Stable, slip-resistant walking shoe for older adults.",true',
    "T-2,EverComfort Women's Walking Shoe,EverComfort,footwear,walking shoes,women,adult,"
    '64.50,4.1,White,6|7|8,"Light walking shoe with arch support.",true',
    "T-3,Sonora Pulse Earbuds,Sonora,electronics,headphones,unisex,teen,99.00,4.7,Black,"
    'one size,"Wireless earbuds teens love.",true',
    "T-4,Atelier Nord Men's Cardigan,Atelier Nord,apparel,sweaters,men,senior,120.00,4.8,Grey,"
    'S|M|L,"Merino cardigan, easy on and off.",false',
]


def make_settings(folder: Path, **overrides: Any) -> RagSettings:
    """Settings for a test: embedded Qdrant and SQLite history under ``folder``, no chat
    model, quiet logs; ``overrides`` win (the environment is not read for these)."""
    values: dict[str, Any] = {
        "qdrant_path": str(folder / "qdrant"),
        "history_url": f"sqlite:///{folder / 'history.db'}",
        "chat_provider": "none",
        "log_level": "WARNING",
        "log_format": "text",
    }
    values.update(overrides)
    return RagSettings(**values)


def small_csv(rows: list[str], header: str = HEADER) -> bytes:
    """A catalog CSV with ``rows`` under the standard header."""
    return ("\n".join([header, *rows]) + "\n").encode()
