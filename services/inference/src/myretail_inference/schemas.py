"""Request and response models: the book's ``/generate`` and the OpenAI-compatible API.

Kept apart from the serving logic (routes and service) so the HTTP contract is in one
place and documented in ``/openapi.json``. Requests are strict about types (``"5"`` is
not a number), bound every string and list (limits before work), refuse text that is
not valid Unicode, and ignore fields they do not know, as OpenAI clients send many.
OpenAI features this server does not implement are declared here too, so that a request
using them is refused with a 400 that names them (see :meth:`_OpenAIRequest.unsupported`)
instead of being answered as if they were not there.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any, ClassVar, Literal, NamedTuple

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
)

SEED_REPETITION_PENALTY = 1.15

# Static bounds, checked while parsing. The per-model bound (prompt tokens plus
# max_tokens within the context window) is checked after tokenizing, in the service.
MAX_TEXT_CHARS = 262_144  # one prompt or message: far beyond an 8k-token context
MAX_MESSAGES = 256
MAX_CONTENT_PARTS = 64
MAX_STOP_SEQUENCES = 4  # OpenAI's own limit
MAX_STOP_CHARS = 64
MAX_ID_CHARS = 256  # model ids, user ids, content-part and response-format types
MAX_NAME_CHARS = 64  # a chat participant's name
MAX_PROMPTS = 64  # parsing bound of a prompt list; more than one is refused anyway
MAX_TOOLS = 128  # OpenAI's own limit; any tool is refused anyway
MAX_OBJECT_KEYS = 300  # logit_bias and other refused objects
MAX_TOKEN_COUNT = 2**31 - 1


def _well_formed(value: str) -> str:
    """Refuse lone surrogates (JSON's ``"\\ud800"``): no tokenizer or encoder takes them.

    pydantic happens to refuse them already where a length bound applies; this says so
    explicitly, for every text field, whatever pydantic does.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (it holds a lone surrogate)") from None
    return value


WellFormed = AfterValidator(_well_formed)
PromptText = Annotated[str, Field(max_length=MAX_TEXT_CHARS), WellFormed]
Identifier = Annotated[str, Field(max_length=MAX_ID_CHARS), WellFormed]
NameText = Annotated[str, Field(max_length=MAX_NAME_CHARS), WellFormed]
StopText = Annotated[str, Field(min_length=1, max_length=MAX_STOP_CHARS), WellFormed]
Temperature = Annotated[float, Field(ge=0.0, le=2.0)]
TopP = Annotated[float, Field(gt=0.0, le=1.0)]
RepetitionPenalty = Annotated[float, Field(gt=0.0, le=10.0)]
TopK = Annotated[int, Field(ge=-1, le=MAX_TOKEN_COUNT)]
Penalty = Annotated[float, Field(ge=-2.0, le=2.0)]
Seed = Annotated[int, Field(ge=-(2**63), le=2**64 - 1)]
TokenCount = Annotated[int, Field(ge=1, le=MAX_TOKEN_COUNT)]
RefusedObject = Annotated[dict[str, Any], Field(max_length=MAX_OBJECT_KEYS)]


def _shape(value: Any) -> str:
    """Tells OpenAI's "a string or a list" fields apart, so each mistake gets one error."""
    return "list" if isinstance(value, list) else "string"


StopSequences = Annotated[
    Annotated[StopText, Tag("string")]
    | Annotated[list[StopText], Field(max_length=MAX_STOP_SEQUENCES), Tag("list")],
    Discriminator(_shape),
]
Prompts = Annotated[
    Annotated[PromptText, Tag("string")]
    | Annotated[list[PromptText], Field(min_length=1, max_length=MAX_PROMPTS), Tag("list")],
    Discriminator(_shape),
]


class _Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


def _not_blank(value: str, what: str) -> str:
    if not value.strip():
        raise ValueError(f"{what} must not be blank")
    return value


def _is_none(value: object) -> bool:
    return value is None


# -- shared ---------------------------------------------------------------------------


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def now() -> int:
    return int(time.time())


# -- the book's v0 API: POST /generate ------------------------------------------------------


class GenerateRequest(_Request):
    """The book's request: a question for the Loyalty assistant."""

    prompt: PromptText = Field(description="The customer's question (formatted like in training)")
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


# -- OpenAI: errors ---------------------------------------------------------------------------


class OpenAIError(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, rate_limit_error or server_error")
    param: str | None = Field(description="The request field at fault, when there is one")
    code: str | None = Field(description="What went wrong, e.g. model_not_found")


class OpenAIErrorResponse(BaseModel):
    """Body of every non-2xx answer under ``/v1`` (OpenAI's shape)."""

    error: OpenAIError


# -- OpenAI: shared pieces ----------------------------------------------------------------


class Refusal(NamedTuple):
    """An OpenAI feature a request asked for that this server does not implement."""

    param: str
    message: str


# (field, refused when the value ..., what to say): the features every /v1 request may name.
_RefusalRule = tuple[str, Callable[[Any], bool], str]

_COMMON_REFUSALS: tuple[_RefusalRule, ...] = (
    ("n", lambda n: n not in (None, 1), "n > 1 is not supported: one choice per request (n=1)"),
    ("logit_bias", bool, "logit_bias is not supported"),
    (
        "presence_penalty",
        bool,
        "presence_penalty is not supported (only 0); use repetition_penalty instead",
    ),
    (
        "frequency_penalty",
        bool,
        "frequency_penalty is not supported (only 0); use repetition_penalty instead",
    ),
)


class StreamOptions(_Request):
    include_usage: bool = False


class _OpenAIRequest(_Request):
    model: Identifier | None = Field(default=None, description="Served model id (see /v1/models)")
    max_tokens: TokenCount | None = None
    temperature: Temperature | None = Field(default=None, description="Default 1.0; 0 = greedy")
    top_p: TopP | None = None
    n: int | None = Field(default=None, description="Only 1 is supported (else 400)")
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: StopSequences | None = Field(
        default=None, description=f"A string or up to {MAX_STOP_SEQUENCES} strings"
    )
    seed: Seed | None = None
    presence_penalty: Penalty | None = Field(default=None, description="Only 0 (else 400)")
    frequency_penalty: Penalty | None = Field(default=None, description="Only 0 (else 400)")
    logit_bias: RefusedObject | None = Field(default=None, description="Not supported (400)")
    repetition_penalty: RepetitionPenalty | None = Field(
        default=None, description="Extension (as in vLLM): multiplicative penalty, default 1.0"
    )
    ignore_eos: bool = Field(
        default=False, description="Extension (as in vLLM): keep generating past end-of-text"
    )
    top_k: TopK | None = Field(
        default=None,
        description="Extension (as in vLLM): sample among the k likeliest tokens; -1 or 0: all",
    )
    user: Identifier | None = None

    refusal_rules: ClassVar[tuple[_RefusalRule, ...]] = _COMMON_REFUSALS

    def unsupported(self) -> Refusal | None:
        """The first feature asked for that this server does not implement, if any."""
        return next(self._refusals(), None)

    def _refusals(self) -> Iterator[Refusal]:
        for param, refused, message in self.refusal_rules:
            if refused(getattr(self, param)):
                yield Refusal(param, message)

    def stop_list(self) -> list[str]:
        return [self.stop] if isinstance(self.stop, str) else list(self.stop or [])

    def wants_usage_chunk(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)


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


class ContentPart(_Request):
    """A part of a message's content; only ``{"type": "text"}`` parts are supported."""

    type: Identifier
    text: PromptText | None = None


MessageContent = Annotated[
    Annotated[PromptText, Tag("string")]
    | Annotated[list[ContentPart], Field(max_length=MAX_CONTENT_PARTS), Tag("list")],
    Discriminator(_shape),
]


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant"]
    content: MessageContent | None = Field(
        default=None, description="A string, or a list of text parts"
    )
    name: NameText | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part.text or "" for part in self.content)
        return self.content or ""

    def has_non_text_part(self) -> bool:
        return isinstance(self.content, list) and any(p.type != "text" for p in self.content)


class ResponseFormat(_Request):
    type: Identifier


_CHAT_REFUSALS: tuple[_RefusalRule, ...] = (
    ("tools", bool, "tools (function calling) are not supported"),
    (
        "tool_choice",
        lambda choice: choice not in (None, "none"),
        "tool_choice is not supported (no tools)",
    ),
    ("functions", bool, "functions (function calling) are not supported"),
    (
        "function_call",
        lambda call: call not in (None, "none"),
        "function_call is not supported (no functions)",
    ),
    (
        "response_format",
        lambda fmt: fmt is not None and fmt.type != "text",
        'response_format is not supported other than {"type": "text"}',
    ),
    ("logprobs", bool, "logprobs are not supported"),
    ("top_logprobs", bool, "top_logprobs are not supported (logprobs are not)"),
    ("audio", lambda audio: audio is not None, "audio output is not supported"),
    (
        "modalities",
        lambda kinds: kinds not in (None, ["text"]),
        'modalities other than ["text"] are not supported',
    ),
)


class ChatCompletionRequest(_OpenAIRequest):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_completion_tokens: TokenCount | None = Field(
        default=None, description="Newer name of max_tokens (either may be used)"
    )
    logprobs: bool | None = Field(default=None, description="Not supported (400 when true)")
    top_logprobs: Annotated[int, Field(ge=0, le=20)] | None = Field(
        default=None, description="Not supported (400 when above 0)"
    )
    tools: Annotated[list[RefusedObject], Field(max_length=MAX_TOOLS)] | None = Field(
        default=None, description="Not supported: any tool is refused (400)"
    )
    tool_choice: Identifier | RefusedObject | None = Field(
        default=None, description='Not supported: only "none"'
    )
    functions: Annotated[list[RefusedObject], Field(max_length=MAX_TOOLS)] | None = Field(
        default=None, description="Not supported: any function is refused (400)"
    )
    function_call: Identifier | RefusedObject | None = Field(
        default=None, description='Not supported: only "none"'
    )
    response_format: ResponseFormat | None = Field(
        default=None, description='Only {"type": "text"} (else 400)'
    )
    audio: RefusedObject | None = Field(default=None, description="Not supported (400)")
    modalities: Annotated[list[Identifier], Field(max_length=4)] | None = Field(
        default=None, description='Only ["text"] (else 400)'
    )

    refusal_rules = _COMMON_REFUSALS + _CHAT_REFUSALS

    def _refusals(self) -> Iterator[Refusal]:
        yield from super()._refusals()
        for index, message in enumerate(self.messages):
            if message.has_non_text_part():
                yield Refusal(
                    f"messages.{index}.content",
                    "content parts other than text (images, audio, files) are not supported",
                )

    def requested_max_tokens(self) -> tuple[int | None, str]:
        """The new-token limit the request names, and the field that named it."""
        if self.max_completion_tokens is not None:
            return self.max_completion_tokens, "max_completion_tokens"
        return self.max_tokens, "max_tokens"


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    refusal: None = None  # OpenAI's field for a model's refusal; this model has none


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
    """New text of a streamed answer; fields without news are left out, not null.

    OpenAI sends ``role`` in the first chunk only, and an empty delta in the last.
    """

    role: Literal["assistant"] | None = Field(default=None, exclude_if=_is_none)
    content: str | None = Field(default=None, exclude_if=_is_none)


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
    # Only the usage chunk (stream_options.include_usage) carries it.
    usage: Usage | None = Field(default=None, exclude_if=_is_none)


# -- OpenAI: (legacy) completions -------------------------------------------------------------

_COMPLETION_REFUSALS: tuple[_RefusalRule, ...] = (
    (
        "prompt",
        lambda prompt: isinstance(prompt, list) and len(prompt) > 1,
        "a list of several prompts is not supported: send exactly one prompt per request",
    ),
    ("best_of", lambda best: best not in (None, 1), "best_of > 1 is not supported"),
    ("logprobs", lambda logprobs: logprobs is not None, "logprobs are not supported"),
    ("suffix", bool, "suffix (insertion) is not supported"),
)


class CompletionRequest(_OpenAIRequest):
    prompt: Prompts = Field(description="One prompt (a string or a list of one string)")
    echo: bool = False
    best_of: int | None = Field(default=None, description="Only 1 is supported (else 400)")
    logprobs: Annotated[int, Field(ge=0, le=5)] | None = Field(
        default=None, description="Not supported (400)"
    )
    suffix: PromptText | None = Field(default=None, description="Not supported (400)")

    refusal_rules = _COMMON_REFUSALS + _COMPLETION_REFUSALS

    @field_validator("prompt")
    @classmethod
    def _prompt_not_blank(cls, value: str | list[str]) -> str | list[str]:
        _not_blank(value if isinstance(value, str) else value[0], "prompt")
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
    # Always in a full answer; in a stream only the usage chunk carries it.
    usage: Usage | None = Field(default=None, exclude_if=_is_none)
