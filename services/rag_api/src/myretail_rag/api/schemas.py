"""Request and response bodies of the RAG API (``/generate`` keeps the book's v0 shape,
plus ``sources`` and ``mode``; ``/load_data`` the book's ``{"url"}``), and the events of a
streamed ``/generate`` (``"stream": true``).

A streamed answer is a ``text/event-stream`` of server-sent events, each an ``event:``
line naming its kind and one ``data:`` line of JSON:

* ``delta`` (:class:`StreamDelta`), any number: the next piece of the answer, to append.
  In LLM mode the chat model's tokens, in retrieval-only mode the table line by line
  (each piece ends with its newline). The pieces are inert Markdown already.
* ``done`` (:class:`GenerateResponse`, the non-streamed body), once, last: the whole
  answer as saved (``response``), ``session_id``, ``sources``, ``mode``, ``warnings``.
* ``error`` (the shared :class:`~myretail_common.errors.ErrorResponse`), instead of
  ``done``, when the answer fails after its first piece was sent (a dependency failing,
  the deadline passing): the body a non-streamed request would have got with its 503 or
  504. Nothing of such a turn is saved. A failure before the first piece is a plain HTTP
  error, as without streaming.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator

# Matched against the whole value (fullmatch): "…\n" is not a UUID.
_UUID = re.compile(
    r"[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
#: The hard cap on a prompt, whatever MAX_PROMPT_CHARS says (its own highest value); the
#: route answers 413 above MAX_PROMPT_CHARS.
PROMPT_HARD_LIMIT = 100_000


class GenerateRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"prompt": "Please suggest walking shoes for a 60 year old man, in a table format"}
            ]
        }
    )

    prompt: str = Field(
        min_length=1,
        max_length=PROMPT_HARD_LIMIT,
        description="The shopper's message (not blank; at most MAX_PROMPT_CHARS characters)",
    )
    session_id: str | None = Field(
        default=None,
        max_length=36,
        description="A UUID from a previous answer to continue that conversation; "
        "omitted: a new session",
    )
    stream: bool = Field(
        default=False,
        description="true: answer with server-sent events (delta ..., then done or error)",
    )

    @field_validator("prompt")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("prompt must not be blank")
        return value

    @field_validator("session_id")
    @classmethod
    def _uuid(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not _UUID.fullmatch(value):
            raise ValueError("session_id must be a UUID (32 hex digits, dashes optional)")
        return value


class Source(BaseModel):
    product_id: str
    name: str
    brand: str | None = None
    price: float | None = None
    rating: float | None = None
    score: float = Field(description="Cosine similarity of the product to the search")


class GenerateResponse(BaseModel):
    response: str = Field(description="The answer (Markdown, without images or raw HTML)")
    session_id: str = Field(description="Send it back to continue the conversation")
    sources: list[Source] = Field(description="The catalog products the answer is based on")
    mode: str = Field(description="llm, retrieval_only or retrieval_only_fallback")
    warnings: list[str] = Field(
        default_factory=list,
        description="What went less well than usual, for the shopper: e.g. the chat history "
        "could not be read (the answer ignores earlier messages) or saved",
    )


class StreamDelta(BaseModel):
    """``event: delta``: the next piece of a streamed answer."""

    text: str = Field(description="Append to the answer so far (inert Markdown)")


#: The server-sent event names of a streamed answer.
DELTA_EVENT, DONE_EVENT, ERROR_EVENT = "delta", "done", "error"


class LoadDataRequest(BaseModel):
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="Catalog CSV: http(s)://, s3:// or file:// as LOAD_ALLOWED_SCHEMES allows",
        examples=["https://example.com/catalog.csv"],
    )


class LoadDataResponse(BaseModel):
    status: str = "loaded"
    products: int
    collection: str
    seconds: float
    source: str
