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


class ExclusiveCopy(Embeddings):
    """Fails like the fast tokenizer does when a second thread uses it at the same time."""

    def __init__(self, name: str, in_use: list[int]) -> None:
        self.name = name
        self.busy = threading.Lock()
        self.calls = 0
        self.in_use = in_use  # [copies in use now, most at once], shared by the copies

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not self.busy.acquire(blocking=False):
            raise RuntimeError("Already borrowed")
        try:
            self.in_use[0] += 1
            self.in_use[1] = max(self.in_use[1], self.in_use[0])
            time.sleep(0.002)
            self.calls += 1
            self.in_use[0] -= 1
            return [[float(len(text))] for text in texts]
        finally:
            self.busy.release()

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def test_no_copy_is_used_by_two_threads_at_once():
    in_use = [0, 0]
    copies = [ExclusiveCopy("a", in_use), ExclusiveCopy("b", in_use)]
    model = ModelCopies(copies)
    texts = [f"question {n}" for n in range(120)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda text: model.embed_query(text), texts))
    assert answers == [[float(len(text))] for text in texts]
    assert all(copy.calls > 0 for copy in copies), "both copies did work"
    assert in_use[1] == 2, "two calls ran side by side, never more than the copies"
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
