"""The service's parts (vector store, embeddings, history, chat model) and their life cycle.

Parts passed to ``create_app`` are used as they are (tests build the real thing small);
missing ones are built from the settings when the app starts: the embedded Qdrant folder
is opened, the history store connected, and the embedding model loaded in the background,
so ``/healthz`` answers at once and ``/readyz`` turns ready when everything is.

The catalog is read, never required, at each readiness check: its state (products, load
time) goes to ``/readyz`` and the ``rag_catalog_*`` gauges, so a catalog that a restore
Job, ``POST /load_data`` or another process's ``myretail-catalog`` puts in place is
noticed without a restart (requests resolve the catalog alias every time anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from langchain_core.language_models import BaseChatModel
from prometheus_client import CollectorRegistry
from starlette.concurrency import run_in_threadpool

from myretail_rag.api.metrics import Metrics
from myretail_rag.catalog.embeddings import EmbeddingModel, embedding_identity, load_embeddings
from myretail_rag.catalog.query_batcher import QueryBatcher
from myretail_rag.catalog.vector_store import CatalogState, CatalogStore
from myretail_rag.conversation.assistant import ShoppingAssistant
from myretail_rag.conversation.chat_models import (
    ChatModelInfo,
    chat_model_info,
    create_chat_model,
)
from myretail_rag.conversation.history import (
    HistoryStore,
    HistoryUnavailableError,
    create_history,
)
from myretail_rag.settings import RagSettings
from myretail_rag.understanding.search import CatalogSearch

logger = logging.getLogger(__name__)


class NotReadyError(Exception):
    """A part a request needs is not built yet (still starting, or it failed to start);
    ``retry_in_seconds``: when asking again makes sense."""

    def __init__(self, part: str, reason: str, retry_in_seconds: int) -> None:
        super().__init__(reason)
        self.part = part
        self.reason = reason
        self.retry_in_seconds = retry_in_seconds


class Components:
    """Everything a request needs; built once per app."""

    def __init__(
        self,
        settings: RagSettings,
        *,
        embeddings: EmbeddingModel | None,
        vector_store: CatalogStore | None,
        history: HistoryStore | None,
        chat_model: BaseChatModel | None,
        registry: CollectorRegistry,
    ) -> None:
        self.settings = settings
        self.embeddings = embeddings
        self.store = vector_store
        self.history = history
        self.chat_model = chat_model if chat_model is not None else create_chat_model(settings)
        self.chat_info: ChatModelInfo | None = chat_model_info(settings)
        if self.chat_model is not None and self.chat_info is None:
            self.chat_info = ChatModelInfo("injected", type(self.chat_model).__name__, "in-process")
        self.metrics = Metrics(registry)
        self.batcher: QueryBatcher | None = None
        self.search: CatalogSearch | None = None
        self.assistant: ShoppingAssistant | None = None
        self.startup_error: str | None = None
        self.catalog: CatalogState | None = None  # as the last readiness check found it
        self._owned: list[Any] = []
        self._loader: asyncio.Task[None] | None = None
        self.assemble()

    def assemble(self) -> None:
        """Build the search and the assistant once their parts exist."""
        if self.assistant is not None:
            return
        if self.store is None or self.embeddings is None or self.history is None:
            return
        batcher = QueryBatcher(
            self.embeddings,
            max_batch_size=self.settings.query_batch_max_size,
            max_wait_seconds=self.settings.query_batch_max_wait_ms / 1000,
            on_batch=self.metrics.record_query_batch,
            workers=self.settings.query_embedding_workers,
        )
        self.metrics.watch_query_queue(lambda: batcher.waiting)
        self.batcher = batcher
        self.search = CatalogSearch(
            self.store, self.embeddings, batcher=batcher, on_search=self.metrics.record_search
        )
        self.assistant = ShoppingAssistant(
            self.settings, self.search, self.history, self.chat_model, self.chat_info
        )

    # -- life cycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self.store is None:
            identity = (
                self.embeddings.identity
                if self.embeddings is not None
                else embedding_identity(self.settings)
            )
            self.store = await run_in_threadpool(
                CatalogStore.from_settings, self.settings, identity
            )
            self._owned.append(self.store)
        if self.history is None:
            self.history = await run_in_threadpool(
                create_history, self.settings.history_url, self.settings.history_ttl_seconds
            )
            self._owned.append(self.history)
        if self.embeddings is None:
            self._loader = asyncio.create_task(self._load_embeddings())
        self.assemble()

    async def _load_embeddings(self) -> None:
        try:
            self.embeddings = await asyncio.to_thread(
                load_embeddings, self.settings, self.settings.query_embedding_workers
            )
            self.assemble()
        except Exception as exc:
            self.startup_error = str(exc)
            logger.error("embedding model failed to load", extra={"reason": str(exc)})

    async def stop(self) -> None:
        if self._loader is not None and not self._loader.done():
            self._loader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._loader
        if self.batcher is not None:
            self.batcher.close()
        for part in reversed(self._owned):
            with contextlib.suppress(Exception):
                part.close()
        self._owned.clear()

    # -- request helpers -------------------------------------------------------------------

    def require_assistant(self) -> ShoppingAssistant:
        if self.assistant is None:
            raise self._not_ready()
        return self.assistant

    def require_loader(self) -> tuple[CatalogStore, EmbeddingModel]:
        if self.store is None or self.embeddings is None:
            raise self._not_ready()
        return self.store, self.embeddings

    def _not_ready(self) -> NotReadyError:
        if self.startup_error:
            return NotReadyError("embedding model", self.startup_error, 60)
        if self.embeddings is None:
            return NotReadyError("embedding model", "still loading", 10)
        return NotReadyError("service", "still starting", 5)

    # -- readiness checks (each raises with a reason, or returns) ---------------------------

    async def check_vector_store(self) -> None:
        """Qdrant answers and the catalog (if any) matches our embeddings; an empty
        catalog passes (see :mod:`myretail_rag.api.readiness`)."""
        self.catalog = None
        if self.store is None:
            raise RuntimeError("not opened yet")
        state = await run_in_threadpool(self.store.catalog_state)
        self.catalog = state
        self.metrics.record_catalog(state)

    def catalog_loaded(self, products: int) -> None:
        """A load in this process just replaced the catalog."""
        self.catalog = CatalogState(products, datetime.now(UTC))
        self.metrics.record_catalog(self.catalog)

    def describe_catalog(self) -> str:
        """The catalog's state for ``/readyz`` (reported after the vector store check)."""
        if self.catalog is None:
            return "unknown: see vector_store"
        return self.catalog.describe()

    async def check_embeddings(self) -> None:
        if self.startup_error:
            raise RuntimeError(self.startup_error)
        if self.embeddings is None:
            raise RuntimeError("loading")

    async def describe_history(self) -> str:
        """The chat history's state for ``/readyz``: reported, never a reason to be unready
        (answers go on without it)."""
        if self.history is None:
            return "not opened yet"
        try:
            await run_in_threadpool(self.history.ping)
        except HistoryUnavailableError as exc:
            return f"{exc} (answers go without history meanwhile)"
        return "ok"
