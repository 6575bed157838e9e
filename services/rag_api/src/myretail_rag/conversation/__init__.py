"""One shopping conversation turn: the assistant that answers it (``assistant``), the
history-aware LangChain RAG chain (``chain``) and its catalog retriever (``retriever``),
the configured chat model (``chat_models``) and per-session chat history in SQLite or
Redis (``history``).
"""
