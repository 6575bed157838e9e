"""Catalog loads with several RAG replicas on one Qdrant: one load at a time (a lease kept in
Qdrant), a lost answer to the alias switch never drops the live catalog, and clean-up never
deletes another replica's load in progress.

The replicas are two real apps, each with its own Qdrant client, on one Qdrant server (the
REST stand-in over embedded Qdrant: no Qdrant server can be installed here); the holder that
freezes is a real process, stopped with SIGSTOP.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from qdrant_client import QdrantClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from myretail_rag.catalog.embeddings import EmbeddingModel
from myretail_rag.catalog.lease import CatalogLease
from myretail_rag.catalog.vector_store import CatalogStore
from myretail_testkit.qdrant_gateway import QdrantGateway
from myretail_testkit.rag import MINI_ROWS, make_settings, small_csv
from myretail_testkit.servers import LiveServer


class Qdrant:
    """One Qdrant server (the stand-in) holding the sample catalog."""

    def __init__(self, folder: Path, loaded_catalog_dir: Path) -> None:
        shutil.copytree(loaded_catalog_dir, folder)
        self.backend = QdrantClient(path=str(folder))
        self.gateway = QdrantGateway(self.backend)
        self.server = LiveServer(self.gateway.app)


@pytest.fixture
def qdrant(tmp_path: Path, loaded_catalog_dir: Path) -> Iterator[Qdrant]:
    server = Qdrant(tmp_path / "qdrant-server", loaded_catalog_dir)
    with server.server:
        yield server
    server.backend.close()


@pytest.fixture(scope="module")
def catalog_url() -> Iterator[str]:
    async def mini(_: Request) -> Response:
        return Response(small_csv(MINI_ROWS), media_type="text/csv")

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/healthz", healthz), Route("/mini.csv", mini)])
    with LiveServer(app) as server:
        yield f"{server.url}/mini.csv"


class Replica:
    """One RAG API replica (a real app with its own Qdrant client) on the shared Qdrant."""

    def __init__(
        self, folder: Path, qdrant: Qdrant, make_client: Any, embeddings: EmbeddingModel, **extra
    ) -> None:
        self.settings = make_settings(
            folder,
            qdrant_endpoint=qdrant.server.url,
            qdrant_timeout_seconds=1,
            load_allow_private_addresses=True,
            load_batch_size=2,
            **extra,
        )
        self.store = CatalogStore.from_settings(self.settings, embeddings.identity)
        self.client = make_client(self.settings, self.store, embeddings=embeddings)

    def load(self, url: str) -> Any:
        return self.client.post("/load_data", json={"url": url})


class PausingEmbeddings(Embeddings):
    """The real model; its second batch waits until the test lets it go (a load in progress)."""

    def __init__(self, model: EmbeddingModel) -> None:
        self.model = model
        self.calls = 0
        self.paused = threading.Event()
        self.go_on = threading.Event()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.calls += 1
        if self.calls == 2:
            self.paused.set()
            assert self.go_on.wait(120)
        return self.model.embeddings.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.model.embeddings.embed_query(text)


def test_a_second_replicas_load_gets_409_while_the_first_runs_and_sees_its_work_kept(
    tmp_path, qdrant, make_client, embedding_model, catalog_url
):
    pausing = PausingEmbeddings(embedding_model)
    first = Replica(
        tmp_path / "a", qdrant, make_client, EmbeddingModel(pausing, embedding_model.identity)
    )
    second = Replica(tmp_path / "b", qdrant, make_client, embedding_model)
    outcome: dict[str, Any] = {}
    loading = threading.Thread(target=lambda: outcome.update(first=first.load(catalog_url)))
    loading.start()
    try:
        assert pausing.paused.wait(60), "the first load did not start"
        live = first.store.live_collection()
        (building,) = [c for c in first.store.collections() if "--load-" in c and c != live]
        refused = second.load(catalog_url)
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["type"] == "conflict"
        assert "a catalog load is already running" in error["message"]
        again = first.load(catalog_url)  # the same replica is refused too: not a process lock
        assert again.status_code == 409
        assert building in second.store.collections()  # nobody touched the load in progress
    finally:
        pausing.go_on.set()
        loading.join(timeout=120)
    assert outcome["first"].status_code == 200, outcome["first"].text
    assert outcome["first"].json()["collection"] == building
    assert second.store.live_collection() == building and second.store.count() == 4
    # Once it is done, the other replica loads.
    assert second.load(catalog_url).status_code == 200
    assert second.store.count() == 4


def test_a_lost_answer_to_the_alias_switch_never_drops_the_live_catalog(
    tmp_path, qdrant, make_client, embedding_model, catalog_url
):
    replica = Replica(tmp_path / "a", qdrant, make_client, embedding_model)
    before = replica.store.live_collection()
    # Qdrant applies the switch, then answers after the client gave up (1 s).
    qdrant.gateway.answer_delays["/collections/aliases"] = 3.0
    response = replica.load(catalog_url)
    qdrant.gateway.answer_delays.clear()
    assert response.status_code == 200, response.text
    live = replica.store.live_collection()
    assert live == response.json()["collection"]
    assert replica.store.count() == 4
    assert before not in replica.store.collections()


def test_clean_up_drops_only_what_no_running_load_builds(
    tmp_path, qdrant, make_client, embedding_model, catalog_url
):
    replica = Replica(tmp_path / "a", qdrant, make_client, embedding_model)
    store = replica.store
    # Left by a load that crashed under an older lease, and by one from before leases that
    # may still be running (under an hour old).
    store.create_collection("catalog--load-crashed", {"lease": 0})
    store.create_collection("catalog--load-before-leases")
    assert replica.load(catalog_url).status_code == 200
    left = store.collections()
    assert "catalog--load-crashed" not in left
    assert "catalog--load-before-leases" in left


HOLDER = textwrap.dedent(
    """
    import sys
    from myretail_rag.catalog.embeddings import embedding_identity
    from myretail_rag.catalog.lease import CatalogLease, LeaseLostError
    from myretail_rag.catalog.vector_store import CatalogStore
    from myretail_rag.settings import RagSettings

    settings = RagSettings(qdrant_endpoint=sys.argv[1])
    store = CatalogStore.from_settings(settings, embedding_identity(settings))
    lease = CatalogLease(store, 5).acquire()
    print("held", flush=True)
    sys.stdin.readline()  # the test stops this process here, then lets it go on
    try:
        lease.verify()
        print("still held", flush=True)
    except LeaseLostError as exc:
        print("lost:", exc, flush=True)
    """
)


def test_a_holder_that_froze_past_its_lease_is_taken_over_and_then_stops(
    tmp_path, qdrant, make_client, embedding_model, catalog_url
):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, qdrant.server.url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "LOG_LEVEL": "ERROR"},
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "held"
        replica = Replica(tmp_path / "a", qdrant, make_client, embedding_model)
        assert replica.load(catalog_url).status_code == 409  # alive: its lease is renewed
        os.kill(holder.pid, signal.SIGSTOP)  # frozen: no more renewals
        deadline = time.monotonic() + 60
        while (response := replica.load(catalog_url)).status_code == 409:
            assert time.monotonic() < deadline, response.text
            time.sleep(1)
        assert response.status_code == 200, response.text  # taken over after the expiry
        os.kill(holder.pid, signal.SIGCONT)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().startswith("lost: this catalog load lost its lease")
        assert holder.wait(timeout=30) == 0
    finally:
        if holder.poll() is None:
            os.kill(holder.pid, signal.SIGCONT)
            holder.kill()


def test_a_lease_is_taken_by_one_of_many_at_once(tmp_path, qdrant, embedding_model):
    """Ten callers at the same moment, each with its own client: exactly one holds it."""
    settings = make_settings(tmp_path, qdrant_endpoint=qdrant.server.url)
    stores = [CatalogStore.from_settings(settings, embedding_model.identity) for _ in range(10)]
    start = threading.Barrier(len(stores))
    held: list[CatalogLease] = []

    def take(store: CatalogStore) -> None:
        lease = CatalogLease(store, 30)
        start.wait()
        try:
            held.append(lease.acquire())
        except Exception:  # LoadInProgressError: someone else has it
            return

    callers = [threading.Thread(target=take, args=(store,)) for store in stores]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(timeout=60)
    try:
        assert len(held) == 1
    finally:
        for lease in held:
            lease.release()
        for store in stores:
            store.close()
