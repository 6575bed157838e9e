"""MyRetail inference service: the fine-tuned Loyalty model behind the book's
``/generate`` and an OpenAI-compatible API, with continuous batching.

Modules: ``settings`` (environment), ``loader`` (model store tag + base model),
``engine`` (the continuous-batching scheduler), ``schemas`` (request/response models),
``service`` and ``routes`` (HTTP), ``app`` (``create_app``), ``cli`` (``myretail-inference``).
Importing the package is cheap: torch and transformers load only when a model does.
"""

__version__ = "0.1.0"
