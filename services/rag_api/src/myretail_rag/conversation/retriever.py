"""The catalog search as a LangChain retriever, for the conversational chain."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
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
