"""Helpers for tests that run the real components over loopback (only tests import this).

``make_settings`` (everything local under a folder, no chat model), ``small_csv`` (a
catalog CSV from rows), ``s3_settings`` (the settings that point at a SeaweedFS server),
``search_results`` (what a fixed set of searches returns, to compare two catalogs),
``metric_value`` (one sample of a ``/metrics`` page), ``SilentServer`` (a model that
never answers), ``ScriptedEmbeddings`` (the real embedding model, whose batches a test can
hold or make fail), ``read_events`` (a streamed answer's server-sent events),
``redis_server.RedisServer`` (a real redis-server from Debian) and
``qdrant_gateway.QdrantGateway`` (Qdrant's REST API over embedded Qdrant, standing in for a
Qdrant server, which cannot be installed here).
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from myretail_rag.catalog.taxonomy import COLUMNS
from myretail_rag.settings import RagSettings

if TYPE_CHECKING:  # kept light: scripts/demo.py imports this module too
    from myretail_rag.catalog.embeddings import EmbeddingModel
    from myretail_rag.understanding.search import CatalogSearch
    from myretail_testkit.seaweedfs import SeaweedFS

BOOK_QUESTION = "Please suggest walking shoes for a 60 year old man, in a table format"
SORT_QUESTION = "Can you sort the results by price in descending order?"
#: Varied shopper questions: product types, people, prices, orders, and one that names
#: nothing the rules know.
SHOPPER_QUESTIONS = [
    BOOK_QUESTION,
    "running shoes for women under $120",
    "a warm sweater for my grandfather",
    "wireless earbuds for a teenager",
    "non-stick cookware, cheapest first",
    "waterproof hiking boots",
    "a school backpack for my son",
    "moisturizer for dry skin",
    "dress shoes for a wedding, best rated first",
    "tell me a joke",
    "kids sneakers between $20 and $60",
    "a gift for my wife",
]
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


def s3_settings(server: SeaweedFS) -> dict[str, str]:
    """RagSettings values for ``s3://`` URIs on ``server``."""
    return {
        "s3_endpoint_url": server.endpoint_url,
        "aws_access_key_id": server.access_key,
        "aws_secret_access_key": server.secret_key,
    }


def s3_environment(server: SeaweedFS) -> dict[str, str]:
    """The same as environment variables (for the console scripts)."""
    return {name.upper(): value for name, value in s3_settings(server).items()}


#: Searches that compare two catalogs: free text, and filters of each kind
#: (keyword arguments of :class:`myretail_rag.understanding.constraints.Constraints`).
SEARCHES: list[tuple[str, dict[str, Any]]] = [
    ("walking shoes for a 60 year old man", {}),
    ("waterproof hiking boots", {"genders": ("women", "unisex")}),
    ("wireless earbuds for a teenager", {"max_price": 150.0}),
    ("non-stick cookware", {}),
]


def search_results(search: CatalogSearch) -> list[list[tuple[str, float]]]:
    """(point id, similarity) of the 5 best products for each of :data:`SEARCHES`."""
    from myretail_rag.understanding.constraints import Constraints

    return [
        [(hit.point_id, hit.score) for hit in search.search(text, Constraints(**filters), 5)]
        for text, filters in SEARCHES
    ]


def metric_value(page: str, name: str, **labels: str) -> float:
    """The value of sample ``name{labels}`` on a Prometheus text page (KeyError if absent)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(page):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    raise KeyError(f"{name}{labels or ''} is not on the page")


class SilentServer:
    """A real TCP server that accepts connections and never answers (a hung model);
    ``hung_up`` is set when a client closes its connection (it gave up on the answer)."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.connections: list[socket.socket] = []
        self.hung_up = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.socket.settimeout(0.2)
        while not self.stopped.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections.append(connection)
            threading.Thread(target=self._read, args=(connection,), daemon=True).start()

    def _read(self, connection: socket.socket) -> None:
        """Read (and ignore) the request until the client closes the connection."""
        try:
            while connection.recv(65536):
                pass
        except OSError:
            return
        self.hung_up.set()

    def close(self) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for connection in self.connections:
            connection.close()
        self.socket.close()


class ScriptedEmbeddings:
    """The real embedding model, whose model calls (batches, counted from 1) a test can
    script: ``hold_call`` waits (``held`` set) until ``go_on`` is set; a call in
    ``fail_calls`` raises. ``batches`` lists the texts of every call. It has what
    ``EmbeddingModel`` calls of a LangChain ``Embeddings`` (not subclassed: this module
    stays light to import, scripts/demo.py imports it)."""

    def __init__(self, model: EmbeddingModel) -> None:
        self.model = model
        self.batches: list[list[str]] = []
        self.hold_call: int | None = None
        self.held = threading.Event()
        self.go_on = threading.Event()
        self.fail_calls: set[int] = set()
        self._lock = threading.Lock()

    @property
    def calls(self) -> int:
        return len(self.batches)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        with self._lock:
            self.batches.append(list(texts))
            number = len(self.batches)
        if number == self.hold_call:
            self.held.set()
            if not self.go_on.wait(120):
                raise TimeoutError("the test never let the held batch go")
        if number in self.fail_calls:
            raise RuntimeError("the embedding model crashed")
        return self.model.embeddings.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def read_events(lines: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(event, JSON data) of each server-sent event in the lines of a stream."""
    event, data = "message", ""
    for line in lines:
        if line.startswith("event:"):
            event = line[len("event:") :].strip()
        elif line.startswith("data:"):
            data = line[len("data:") :].strip()
        elif not line and data:
            yield event, json.loads(data)
            event, data = "message", ""
