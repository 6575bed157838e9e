"""The HTTP service: the app factory (``app``), the service's parts and their life cycle
(``components``), its Prometheus metrics (``metrics``), FastAPI dependencies
(``dependencies``), request and response schemas (``schemas``), one module per resource
under ``routes``, the one place where domain errors become HTTP errors (``errors``) and
the ``myretail-rag`` console script (``serve``).
"""
