"""The product catalog and where it lives: the taxonomy (``taxonomy``), the CSV schema and
its validation (``schema``), reading catalog sources safely (``sources``, SSRF-guarded),
loading a catalog atomically (``loading``), portable and native snapshots
(``snapshots``), the Qdrant collections and aliases (``vector_store``), the embedding
models (``embeddings``) and the ``myretail-catalog`` console script (``cli``). Nothing here
knows about HTTP; errors are plain exceptions the callers translate.
"""
