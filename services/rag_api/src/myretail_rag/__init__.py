"""MyRetail RAG API: conversational retrieval over the product catalog in Qdrant.

Modules, one concern each: ``settings`` (environment), ``embeddings`` (local MiniLM or
OpenAI), ``vector_store`` (Qdrant client, collections, aliases, metadata checks),
``catalog`` (CSV validation, one document per product), ``query`` (what a message asks
for), ``retriever`` (constraint-aware search), ``ingest`` (safe fetch and atomic load),
``snapshots`` (portable export/restore, native recover), ``history`` (SQLite/Redis),
``chat_models`` (none/openai/bedrock), ``chain`` (history-aware RAG chain),
``retrieval_only`` (table answers and follow-ups), ``assistant`` (one turn),
``routes`` (HTTP), ``app`` (the app factory) and ``cli`` (``myretail-rag``,
``myretail-catalog``). Importing the package loads nothing heavy.
"""

__version__ = "0.1.0"
