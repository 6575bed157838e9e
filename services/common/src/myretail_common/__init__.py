"""Code shared by every MyRetail GenAI service.

Modules are small and import nothing heavy, so importing this package is cheap:
``settings`` (typed settings), ``logs`` (JSON logging with request ids), ``storage``
(fsspec over file:// and s3://), ``model_store`` (published model tags), ``errors``
(the JSON error model), ``health`` (healthz/readyz/metrics), ``http`` (the FastAPI app
base every service builds on) and ``prompt`` (the prompt format of training and serving).
"""

__version__ = "0.1.0"
