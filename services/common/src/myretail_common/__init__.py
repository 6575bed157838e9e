"""Code shared by every MyRetail GenAI service.

Modules are small and import nothing heavy, so importing this package is cheap:
``settings`` (typed settings), ``logs`` (JSON logging with request ids), ``storage``
(fsspec over file:// and s3://, versions replaced in place), ``model_store`` (published
model tags), ``errors`` (the JSON error model), ``quoting`` (a short, safe prefix of client
input for messages), ``health`` (healthz/readyz/metrics), ``http`` (the FastAPI app base
every service builds on), ``request_guard`` (body cap and JSON text checks before any
route), ``disconnect`` (work cancelled when its client leaves), ``safe_markdown`` (answers
rendered without images or raw HTML) and ``prompt`` (the prompt format of training and
serving).
"""

__version__ = "0.1.0"
