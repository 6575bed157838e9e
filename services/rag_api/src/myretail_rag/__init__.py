"""MyRetail RAG API: conversational retrieval over the product catalog in Qdrant.

Subpackages by concern: ``catalog`` (the taxonomy, CSV schema, sources, loading,
snapshots, the vector store, embeddings and the ``myretail-catalog`` CLI),
``understanding`` (what a shopper's message asks for, constraint-aware search and the
retrieval-only answers), ``conversation`` (the assistant, the LangChain chain, chat models
and history stores) and ``api`` (the FastAPI app, its dependencies, schemas, routes, the
mapping of domain errors to HTTP errors and the ``myretail-rag`` server). ``settings``
holds every setting. Importing the package loads nothing heavy.
"""

__version__ = "0.1.0"
