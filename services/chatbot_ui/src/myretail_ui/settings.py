"""Settings of the chatbot UI (environment variables, see docs/contracts.md)."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from myretail_common.settings import ServiceSettings


class UISettings(ServiceSettings):
    """Where the two backends are: ``RAG_API_ENDPOINT`` and ``INFERENCE_API_ENDPOINT``.

    ``INFERENCE_API_ENDPOINT`` is also read under the book's name ``FINETUNE_API_ENDPOINT``
    (the new name wins when both are set). Each endpoint may be the full URL of the
    backend's ``/generate`` route (the book's v0 form) or the backend's base URL; the
    clients work out the routes from either.
    """

    port: int = Field(default=7860, ge=1, le=65535)

    rag_api_endpoint: str = Field(
        default="http://127.0.0.1:8080",
        description="RAG API /generate URL or base URL (the Shopping assistant)",
    )
    inference_api_endpoint: str = Field(
        default="http://127.0.0.1:8000",
        validation_alias=AliasChoices("INFERENCE_API_ENDPOINT", "FINETUNE_API_ENDPOINT"),
        description="Inference service /generate URL or base URL (the Loyalty Program assistant)",
    )
    # Longer than the RAG API's own deadline (REQUEST_TIMEOUT_SECONDS, 150 s), which is
    # longer than the inference service's (120 s): the inner service gives up first, so the
    # UI never leaves work running behind it.
    backend_timeout_seconds: float = Field(
        default=180.0,
        gt=0,
        description="Longest wait for a backend's answer (or, when streaming, its next token)",
    )
    backend_connect_timeout_seconds: float = Field(
        default=5.0, gt=0, description="Longest wait to connect to a backend"
    )
    stream_answers: bool = Field(
        default=True,
        description=(
            "Stream answers as they are written: Shopping answers from the RAG API "
            '(/generate with "stream": true), Loyalty answers token by token from the '
            "inference service's OpenAI-compatible endpoint (falls back to /generate when "
            "it has none)"
        ),
    )
    loyalty_max_new_tokens: int = Field(
        default=256, ge=1, le=4096, description="Longest Loyalty answer, in tokens"
    )
    max_concurrent_chats: int = Field(
        default=32, ge=1, description="Answers streamed at the same time (Gradio's queue)"
    )
    max_queued_chats: int = Field(
        default=128,
        ge=1,
        le=100_000,
        description="Questions waiting for an answer slot; beyond it the chat says it is busy",
    )
    max_question_chars: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        description="Longest question (the RAG API's MAX_PROMPT_CHARS default)",
    )
    max_chat_messages: int = Field(
        default=200,
        ge=2,
        le=10_000,
        description="Messages a chat keeps on screen (the oldest go first)",
    )
    # The public port serves the chat only: no API docs, and metrics on a port of their own.
    public_api_docs: bool = Field(
        default=False, description="Serve /docs, /redoc and /openapi.json on the public port"
    )
    metrics_port: int | None = Field(
        default=9090,
        ge=1,
        le=65535,
        description="Port of /metrics, kept off the public port (unset: on the public port)",
    )
    loyalty_temperature: float = Field(
        default=0.0, ge=0, le=2, description="Sampling temperature of Loyalty answers (0: greedy)"
    )
    ui_title: str = Field(default="MyRetail Assistant", description="Title shown on the page")
    root_path: str | None = Field(
        default=None,
        validation_alias=AliasChoices("UI_ROOT_PATH", "ROOT_PATH"),
        description="Public path prefix when served behind a proxy under a sub-path",
    )
