"""MyRetail chatbot UI: one Gradio chat window with two assistants.

``settings`` (typed settings), ``clients`` (async HTTP clients for the RAG API and the
fine-tuned model, failures mapped to friendly messages), ``ui`` (the Gradio Blocks),
``app`` (the FastAPI app with the UI mounted at "/") and ``cli`` (the ``myretail-ui``
console script). Importing the package is cheap: Gradio is imported only by ``ui``.
"""

__version__ = "0.1.0"
