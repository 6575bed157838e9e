"""The catalog search as a LangChain retriever, for the conversational chain.

The chain runs asynchronously, so the retriever's async path is the one the service uses:
the question is embedded by the search's query batcher (shared with the retrieval-only
answers) and Qdrant is asked from a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from myretail_rag.understanding.search import CatalogSearch


class CatalogRetriever(BaseRetriever):
    """The catalog search as a LangChain retriever (input: a standalone question)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    search: Any
    k: int = 5

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        searcher: CatalogSearch = self.search
        parsed = searcher.parse(query)
        hits = searcher.search(query, parsed.constraints, self.k)
        return [hit.to_document() for hit in hits]

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun
    ) -> list[Document]:
        searcher: CatalogSearch = self.search
        parsed = await asyncio.to_thread(searcher.parse, query)
        hits = await searcher.asearch(query, parsed.constraints, self.k)
        return [hit.to_document() for hit in hits]
