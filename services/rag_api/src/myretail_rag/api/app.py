"""The RAG API app factory: ``create_app(settings, *, embeddings, vector_store, history,
chat_model)``.

Built on :func:`myretail_common.http.create_service_app` (request ids, JSON errors,
request limits, ``/healthz``, ``/readyz``, ``/metrics``). Readiness checks: ``vector_store``
(Qdrant answers; a catalog, when there is one, matches our embeddings) and ``embeddings``
(model loaded); ``catalog`` ("1233 products", or "empty: it is being restored or loaded")
and ``history`` (the chat history store answers, or why not) are reported beside them and
never make the pod unready: answers go on without history while its store is down.

An ``ADMIN_TOKEN`` shorter than 32 characters is refused here, at start-up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from langchain_core.language_models import BaseChatModel
from prometheus_client import CollectorRegistry

from myretail_common.health import Readiness
from myretail_common.http import create_service_app
from myretail_rag import __version__
from myretail_rag.api.components import Components
from myretail_rag.api.routes import generate, load_data
from myretail_rag.catalog.embeddings import EmbeddingModel
from myretail_rag.catalog.vector_store import CatalogStore
from myretail_rag.conversation.history import HistoryStore
from myretail_rag.settings import RagSettings, check_admin_token

DESCRIPTION = """
MyRetail's Shopping assistant: conversational retrieval over the product catalog.

* `POST /generate` answers a shopping question; send back `session_id` for follow-ups.
* `POST /load_data` loads (replaces) the catalog from a CSV URL.

Without a chat model the answers are Markdown tables of the best matching products
(retrieval-only mode).
"""


def create_app(
    settings: RagSettings | None = None,
    *,
    embeddings: EmbeddingModel | None = None,
    vector_store: CatalogStore | None = None,
    history: HistoryStore | None = None,
    chat_model: BaseChatModel | None = None,
) -> FastAPI:
    """The RAG API. Parts passed in are used as they are; missing ones are built from
    ``settings`` at startup (the embedding model loads in the background)."""
    settings = settings or RagSettings()
    check_admin_token(settings.admin_token)  # copies of settings skip their validators
    registry = CollectorRegistry()
    components = Components(
        settings,
        embeddings=embeddings,
        vector_store=vector_store,
        history=history,
        chat_model=chat_model,
        registry=registry,
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await components.start()
        try:
            yield
        finally:
            await components.stop()

    readiness = Readiness(timeout_seconds=5.0)
    readiness.add("vector_store", components.check_vector_store)
    readiness.add("embeddings", components.check_embeddings)
    readiness.report("history", components.describe_history)
    # The catalog is a state, never a reason to stay unready: a first install's catalog is
    # restored by a post-install hook that Helm (--wait, Terraform's wait = true) runs only
    # once every pod is ready, and the replicas share one catalog anyway.
    readiness.report("catalog", components.describe_catalog)
    app = create_service_app(
        "MyRetail RAG API",
        __version__,
        readiness,
        description=DESCRIPTION,
        registry=registry,
        lifespan=lifespan,
        settings=settings,
    )
    app.state.components = components  # read by api.dependencies.get_components only
    app.include_router(generate.router)
    app.include_router(load_data.router)
    return app
