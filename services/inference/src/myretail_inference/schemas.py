"""Request and response models: the book's ``/generate`` and the OpenAI-compatible API.

Kept apart from the serving logic (routes and service) so the HTTP contract is in one
place and documented in ``/openapi.json``. Requests are strict about types (``"5"`` is
not a number) and ignore fields they do not know, as OpenAI clients send many.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from myretail_common.prompt import STOP_SEQUENCES

SEED_REPETITION_PENALTY = 1.15
MAX_STOP_SEQUENCES = 16

Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(gt=0.0, le=1.0)]
RepetitionPenalty = Annotated[float, Field(gt=0.0, le=10.0)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]
TokenCount = Annotated[int, Field(ge=1)]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


def _not_blank(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} must not be blank")
    return value


# -- shared ---------------------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


# -- seed: POST /generate ---------------------------------------------------------------


class GenerateRequest(_Request):
    """The book's request: a question for the Loyalty assistant."""

    prompt: str = Field(description="The customer's question (formatted like in training)")
    max_new_tokens: TokenCount | None = Field(
        default=None, description="New tokens at most (default: DEFAULT_MAX_NEW_TOKENS)"
    )
    temperature: Temperature = Field(default=0.0, description="0 = greedy (deterministic)")
    top_p: TopP = 1.0
    repetition_penalty: RepetitionPenalty = SEED_REPETITION_PENALTY
    seed: Seed | None = Field(default=None, description="Seed for sampling (temperature > 0)")

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str) -> str:
        return _not_blank(value, "prompt")


class GenerateResponse(BaseModel):
    response: str = Field(description="The answer only (no echoed prompt)")
    usage: Usage
    finish_reason: Literal["stop", "length"]
    model: str


# -- OpenAI: shared pieces ----------------------------------------------------------------


class StreamOptions(_Request):
    include_usage: bool = False


class _OpenAIRequest(_Request):
    model: str | None = Field(default=None, description="Served model id (see /v1/models)")
    max_tokens: TokenCount | None = None
    temperature: Temperature | None = Field(default=None, description="Default 1.0; 0 = greedy")
    top_p: TopP | None = None
    n: int | None = Field(default=None, description="Only 1 is supported")
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: str | list[str] | None = None
    seed: Seed | None = None
    presence_penalty: Penalty | None = Field(default=None, description="Only 0 is supported")
    frequency_penalty: Penalty | None = Field(default=None, description="Only 0 is supported")
    repetition_penalty: RepetitionPenalty | None = Field(
        default=None, description="Extension (as in vLLM): multiplicative penalty, default 1.0"
    )
    ignore_eos: bool = Field(
        default=False, description="Extension (as in vLLM): keep generating past end-of-text"
    )
    user: str | None = None

    @field_validator("n")
    @classmethod
    def _one_choice(cls, value: int | None) -> int | None:
        if value is not None and value != 1:
            raise ValueError("only n=1 is supported")
        return value

    @field_validator("stop")
    @classmethod
    def _valid_stop(cls, value: str | list[str] | None) -> str | list[str] | None:
        stops = [value] if isinstance(value, str) else value or []
        if len(stops) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences are supported")
        if any(not stop for stop in stops):
            raise ValueError("stop sequences must not be empty")
        return value

    @field_validator("presence_penalty", "frequency_penalty")
    @classmethod
    def _zero_penalty(cls, value: float | None) -> float | None:
        if value:
            raise ValueError("is not supported (only 0); use repetition_penalty instead")
        return value

    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "myretail"
    root: str | None = None
    max_model_len: int | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# -- OpenAI: chat completions ---------------------------------------------------------------


class TextContentPart(_Request):
    type: Literal["text"]
    text: str


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextContentPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text for part in self.content)
        return self.content or ""


class ChatCompletionRequest(_OpenAIRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: TokenCount | None = Field(
        default=None, description="Newer name of max_tokens (either may be used)"
    )
    logprobs: bool | None = Field(default=None, description="Not supported")
    top_logprobs: int | None = Field(default=None, description="Not supported")

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: bool | None) -> bool | None:
        if value:
            raise ValueError("logprobs are not supported")
        return value

    @field_validator("top_logprobs")
    @classmethod
    def _no_top_logprobs(cls, value: int | None) -> int | None:
        if value:
            raise ValueError("logprobs are not supported")
        return value


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"]
    logprobs: None = None


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage


class ChatDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChatDelta
    finish_reason: Literal["stop", "length"] | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChatChunkChoice]
    usage: Usage | None = None


# -- OpenAI: (legacy) completions -------------------------------------------------------------


class CompletionRequest(_OpenAIRequest):
    prompt: str | list[str] = Field(description="One prompt (a string or a list of one string)")
    echo: bool = False
    best_of: int | None = Field(default=None, description="Only 1 is supported")
    logprobs: int | None = Field(default=None, description="Not supported")
    suffix: str | None = Field(default=None, description="Not supported")

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and len(value) != 1:
            raise ValueError("exactly one prompt per request is supported")
        text = value if isinstance(value, str) else value[0]
        _not_blank(text, "prompt")
        return value

    @field_validator("best_of")
    @classmethod
    def _one_best(cls, value: int | None) -> int | None:
        if value is not None and value != 1:
            raise ValueError("only best_of=1 is supported")
        return value

    @field_validator("logprobs")
    @classmethod
    def _no_logprobs(cls, value: int | None) -> int | None:
        if value is not None:
            raise ValueError("logprobs are not supported")
        return value

    @field_validator("suffix")
    @classmethod
    def _no_suffix(cls, value: str | None) -> str | None:
        if value:
            raise ValueError("suffix is not supported")
        return value

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: Literal["stop", "length"] | None
    logprobs: None = None


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


# The answer-mode stop sequences (the shared prompt format's turn markers).
ANSWER_STOPS: tuple[str, ...] = STOP_SEQUENCES
