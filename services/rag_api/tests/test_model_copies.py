"""Copies of the local embedding model: never one copy in two threads, threads per copy."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from langchain_core.embeddings import Embeddings

from myretail_rag.catalog import embeddings as embeddings_module
from myretail_rag.catalog.embeddings import ModelCopies, model_threads
from myretail_rag.settings import RagSettings


class Occupancy:
    """Copies in use now and the most at once, shared by the copies; the first calls of
    both copies meet at a barrier, so two calls are in flight together by construction."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.most = 0
        self.first_calls = threading.Barrier(2, timeout=30)

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def leave(self) -> None:
        with self.lock:
            self.now -= 1


class ExclusiveCopy(Embeddings):
    """Fails like the fast tokenizer does when a second thread uses it at the same time."""

    def __init__(self, occupancy: Occupancy) -> None:
        self.busy = threading.Lock()
        self.calls = 0
        self.occupancy = occupancy

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not self.busy.acquire(blocking=False):
            raise RuntimeError("Already borrowed")
        try:
            self.occupancy.enter()
            if self.calls == 0:  # waits for the other copy's first call (or breaks)
                self.occupancy.first_calls.wait()
            time.sleep(0.001)
            self.calls += 1
            self.occupancy.leave()
            return [[float(len(text))] for text in texts]
        finally:
            self.busy.release()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_no_copy_is_used_by_two_threads_at_once():
    occupancy = Occupancy()
    copies = [ExclusiveCopy(occupancy), ExclusiveCopy(occupancy)]
    model = ModelCopies(copies)
    texts = [f"question {n}" for n in range(120)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda text: model.embed_query(text), texts))
    assert answers == [[float(len(text))] for text in texts]
    assert all(copy.calls > 0 for copy in copies), "both copies did work"
    assert occupancy.most == 2, "two calls ran side by side, never more than the copies"
    assert model.embed_documents(["ab", "c"]) == [[2.0], [1.0]]


def test_a_failing_call_gives_its_copy_back():
    class Broken(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            raise RuntimeError("out of memory")

        def embed_query(self, text: str) -> list[float]:
            raise RuntimeError("out of memory")

    model = ModelCopies([Broken()])
    for _ in range(3):  # would block forever if the copy were lost
        with pytest.raises(RuntimeError, match="out of memory"):
            model.embed_query("boots")


def test_copies_are_needed():
    with pytest.raises(ValueError, match="at least one copy"):
        ModelCopies([])


def test_threads_per_copy_follow_the_usable_cpus(monkeypatch):
    monkeypatch.setattr(embeddings_module, "available_cpus", lambda: 8)
    assert model_threads(RagSettings(), copies=2) == 4
    assert model_threads(RagSettings(), copies=1) == 8
    assert model_threads(RagSettings(), copies=16) == 1
    assert model_threads(RagSettings(embeddings_threads=3), copies=2) == 3
