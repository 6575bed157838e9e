"""Query embeddings batched across concurrent requests, over real HTTP.

The embedding model is the real one behind :class:`ScriptedEmbeddings`, which can hold a
model call: the first question's batch is held until every other question waits for the
next batch (``rag_query_embeddings_waiting`` on ``/metrics``), so the batches are known
exactly, not left to timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from myretail_rag.api.app import create_app
from myretail_rag.catalog.embeddings import EmbeddingModel, EmbeddingsUnavailableError
from myretail_rag.catalog.query_batcher import QueryBatcher
from myretail_testkit.rag import SHOPPER_QUESTIONS, ScriptedEmbeddings, metric_value
from myretail_testkit.servers import LiveServer

pytestmark = pytest.mark.timeout(300)

QUESTIONS = SHOPPER_QUESTIONS


@pytest.fixture
def scripted(embedding_model: EmbeddingModel) -> ScriptedEmbeddings:
    return ScriptedEmbeddings(embedding_model)


@pytest.fixture
def rag(settings, store, history, scripted, embedding_model) -> Iterator[LiveServer]:
    """One embedding worker, so every batch after the held one is known exactly."""
    model = EmbeddingModel(scripted, embedding_model.identity)  # type: ignore[arg-type]
    one_worker = settings.model_copy(update={"query_embedding_workers": 1})
    app = create_app(one_worker, embeddings=model, vector_store=store, history=history)
    with LiveServer(app) as server:
        yield server


def summary(response: httpx.Response) -> dict[str, Any]:
    """What must not depend on how the question was batched."""
    assert response.status_code == 200, response.text
    body = response.json()
    return {
        "response": body["response"],
        "mode": body["mode"],
        "products": [source["product_id"] for source in body["sources"]],
        "scores": [source["score"] for source in body["sources"]],
    }


async def waiting(client: httpx.AsyncClient, url: str) -> float:
    page = (await client.get(f"{url}/metrics")).text
    return metric_value(page, "rag_query_embeddings_waiting")


def ask_together(url: str, scripted: ScriptedEmbeddings, prompts: list[str]) -> list[Any]:
    """Ask ``prompts`` at once: the first one's model call is held until all the others
    wait for the next batch. The responses (or errors), in ``prompts`` order."""
    scripted.hold_call = scripted.calls + 1
    scripted.held.clear()
    scripted.go_on.clear()

    async def run() -> list[Any]:
        async with httpx.AsyncClient(timeout=120) as client:

            def ask(prompt: str) -> asyncio.Task[httpx.Response]:
                return asyncio.ensure_future(
                    client.post(f"{url}/generate", json={"prompt": prompt})
                )

            first = ask(prompts[0])
            assert await asyncio.to_thread(scripted.held.wait, 60), "the first batch started"
            rest = [ask(prompt) for prompt in prompts[1:]]
            while await waiting(client, url) < len(rest):
                await asyncio.sleep(0.02)
            scripted.go_on.set()
            return list(await asyncio.gather(first, *rest, return_exceptions=True))

    return asyncio.run(run())


def test_answers_under_concurrency_equal_answers_one_at_a_time(rag, scripted):
    alone = [summary(httpx.post(f"{rag.url}/generate", json={"prompt": q})) for q in QUESTIONS]
    embedded_alone = [texts for texts in scripted.batches]
    assert all(len(texts) == 1 for texts in embedded_alone), "one at a time: batches of one"
    calls_before = scripted.calls

    together = [summary(response) for response in ask_together(rag.url, scripted, QUESTIONS)]

    # Two model calls: the held first question, then every other question in one batch.
    first, second = scripted.batches[calls_before:]
    assert first == embedded_alone[0]
    assert sorted(second) == sorted(texts[0] for texts in embedded_alone[1:])
    for one, other in zip(alone, together, strict=True):
        assert other["response"] == one["response"]
        assert other["products"] == one["products"], "same sources, same order"
        # A batch pads the shorter questions: the same vectors up to float rounding.
        assert other["scores"] == pytest.approx(one["scores"], abs=2e-4)
    metrics = httpx.get(f"{rag.url}/metrics").text
    assert metric_value(metrics, "rag_query_embedding_batch_size_count") == len(QUESTIONS) + 2
    assert metric_value(metrics, "rag_query_embedding_batch_size_sum") == 2 * len(QUESTIONS)


def test_a_failing_batch_fails_only_its_own_requests_with_503(rag, scripted):
    # Call 1 (the first question, held) succeeds; call 2 (every other question) fails.
    scripted.fail_calls = {2}
    first, *failed = ask_together(rag.url, scripted, QUESTIONS[:7])
    assert first.status_code == 200
    assert len(first.json()["sources"]) == 5
    for response in failed:
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["message"].startswith("embedding model is unavailable: ")
        assert "the embedding model crashed" in error["message"]
        assert response.headers["retry-after"]
    # The next batch is tried afresh.
    again = [httpx.post(f"{rag.url}/generate", json={"prompt": q}) for q in QUESTIONS[1:3]]
    assert [response.status_code for response in again] == [200, 200]
    metrics = httpx.get(f"{rag.url}/metrics").text
    failures = metric_value(metrics, "rag_dependency_failures_total", dependency="embedding model")
    assert failures == len(failed)


def test_a_question_given_up_before_its_batch_is_left_out(embedding_model):
    scripted = ScriptedEmbeddings(embedding_model)
    batcher = QueryBatcher(EmbeddingModel(scripted, embedding_model.identity))  # type: ignore[arg-type]
    try:
        scripted.hold_call = 1
        held = batcher.submit("walking shoes")
        assert scripted.held.wait(60)
        kept, dropped, also_kept = (batcher.submit(q) for q in ("boots", "sweater", "earbuds"))
        assert dropped.cancel()
        scripted.go_on.set()
        vectors = [future.result(60) for future in (held, kept, also_kept)]
        assert scripted.batches == [["walking shoes"], ["boots", "earbuds"]]
        assert vectors[1] == pytest.approx(embedding_model.embed_query("boots"), abs=1e-5)
    finally:
        batcher.close()
    with pytest.raises(EmbeddingsUnavailableError, match="closed"):
        batcher.submit("after close")


def test_two_workers_embed_two_batches_side_by_side(embedding_model):
    scripted = ScriptedEmbeddings(embedding_model)
    model = EmbeddingModel(scripted, embedding_model.identity)  # type: ignore[arg-type]
    batcher = QueryBatcher(model, workers=2)
    try:
        scripted.hold_call = 1
        held = batcher.submit("walking shoes")
        assert scripted.held.wait(60)
        # The first batch is held in the model: the other worker gathers and embeds these.
        others = [batcher.submit(q) for q in ("boots", "earbuds")]
        vectors = [future.result(60) for future in others]
        assert not held.done(), "the held batch is still in the model"
        assert vectors[0] == pytest.approx(embedding_model.embed_query("boots"), abs=1e-5)
        scripted.go_on.set()
        assert held.result(60) == pytest.approx(
            embedding_model.embed_query("walking shoes"), abs=1e-5
        )
        assert scripted.batches[0] == ["walking shoes"]
        assert sorted(text for batch in scripted.batches[1:] for text in batch) == [
            "boots",
            "earbuds",
        ]
    finally:
        batcher.close()
    assert not any(thread.is_alive() for thread in batcher._threads), "every worker stopped"


def test_a_batcher_needs_a_worker(embedding_model):
    with pytest.raises(ValueError, match="workers must be at least 1"):
        QueryBatcher(embedding_model, workers=0)
