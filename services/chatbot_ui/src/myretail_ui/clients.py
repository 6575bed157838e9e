"""Async HTTP clients for the two assistants' backends.

Both clients yield :class:`Reply` snapshots (the answer so far, its sources, the session
id), so the UI renders a streamed answer and a one-shot answer the same way. Both stream
by default, over server-sent events (:func:`server_sent_events`): Shopping from the RAG
API's ``/generate`` with ``"stream": true`` (``delta`` events, then ``done`` with the
sources), Loyalty from the inference service's OpenAI-compatible chat completions. Every
failure (backend down, slow, overloaded, answering nonsense) becomes a
:class:`BackendError` whose ``user_message`` is safe and readable in the chat; the
technical detail goes to the log only.

Endpoints follow the book's v0 UI: the full URL of a backend's ``/generate`` route, or its base
URL. :func:`normalise_endpoint` turns either into the routes a client needs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

logger = logging.getLogger(__name__)

SHOPPING = "Shopping"
LOYALTY = "Loyalty Program"


# --------------------------------------------------------------------------- endpoints


@dataclass(frozen=True)
class Endpoint:
    """The routes of one backend, worked out from the configured URL."""

    base_url: str

    @property
    def generate_url(self) -> str:
        return f"{self.base_url}/generate"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"


def normalise_endpoint(url: str) -> Endpoint:
    """``http://h:8000/generate``, ``http://h:8000/``, ``http://h:8000/v1`` -> base ``http://h:8000``.

    A path prefix is kept (``http://gw/inference/generate`` -> ``http://gw/inference``).
    """
    cleaned = url.strip()
    if not cleaned:
        raise ValueError("backend endpoint is empty")
    if "://" not in cleaned:
        cleaned = f"http://{cleaned}"
    parsed = httpx.URL(cleaned)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"backend endpoint {url!r} is not an http(s) URL")
    path = parsed.path.rstrip("/")
    for suffix in ("/generate", "/v1/chat/completions", "/v1"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    base = parsed.copy_with(path=path or "/", query=None, fragment=None)
    return Endpoint(base_url=str(base).rstrip("/"))


# ------------------------------------------------------------------------------ replies


@dataclass(frozen=True)
class Source:
    """A catalog product an answer is based on."""

    name: str
    price: float | None = None
    rating: float | None = None
    product_id: str | None = None

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Source | None:
        metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
        merged: dict[str, Any] = {**(metadata or {}), **payload}
        name = merged.get("name") or merged.get("title") or merged.get("product_id")
        if not name:
            return None
        return cls(
            name=str(name),
            price=_as_float(merged.get("price")),
            rating=_as_float(merged.get("rating")),
            product_id=str(merged["product_id"]) if merged.get("product_id") else None,
        )


def _as_float(value: Any) -> float | None:
    try:
        return None if value is None or value == "" else float(value)
    except (TypeError, ValueError):
        return None


@dataclass
class Reply:
    """What an assistant has answered so far."""

    text: str = ""
    sources: list[Source] = field(default_factory=list)
    session_id: str | None = None
    done: bool = False
    notes: list[str] = field(default_factory=list)  # what the backend warns the shopper of


#: What went wrong, as the UI's metrics count the errors shown (ui_errors_shown_total).
ERROR_KINDS = (
    "unreachable",  # no connection to the backend
    "timeout",  # no answer in time
    "busy",  # 429
    "unavailable",  # 502/503/504, or a stream's service_unavailable / catalog_empty
    "rejected",  # another 4xx: the backend could not handle the request
    "failed",  # the backend failed otherwise
    "disconnected",  # the connection broke while answering
    "unreadable",  # an answer the chat could not read
)


class BackendError(Exception):
    """A backend failed; ``user_message`` is what the chat shows, ``kind`` one of
    :data:`ERROR_KINDS`."""

    def __init__(self, user_message: str, detail: str, kind: str = "failed") -> None:
        super().__init__(detail)
        self.user_message = user_message
        self.detail = detail
        self.kind = kind


class AssistantClient(Protocol):
    """One assistant of the chat window."""

    name: str

    def stream(self, prompt: str, session_id: str) -> AsyncIterator[Reply]:
        """Reply snapshots, the last one with ``done=True``; raises :class:`BackendError`."""
        ...

    async def aclose(self) -> None: ...


def friendly_error(assistant: str, exc: Exception) -> BackendError:
    """Map a transport or HTTP failure to a message a shopper can act on."""
    who = f"The {assistant} assistant"
    if isinstance(exc, BackendError):
        return exc
    if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError):
        kind = "unreachable"
        message = f"{who} is not reachable right now. Please try again in a moment."
    elif isinstance(exc, httpx.TimeoutException):
        kind = "timeout"
        message = f"{who} is taking too long to answer. Please try again in a moment."
    elif isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        reason = _error_message(exc.response)
        if status == 429:
            kind = "busy"
            message = f"{who} is busy right now. Please try again in a few seconds."
        elif status in (502, 503, 504):
            kind = "unavailable"
            message = f"{who} is temporarily unavailable. Please try again in a moment."
        elif 400 <= status < 500 and status not in (401, 403, 404, 405):
            detail = f" ({reason})" if reason else ""
            kind = "rejected"
            message = f"{who} could not handle that request{detail}. Please rephrase it."
        else:
            kind = "failed"
            message = f"{who} ran into a problem answering. Please try again."
        return BackendError(message, f"HTTP {status}: {reason or exc}", kind)
    elif isinstance(exc, httpx.TransportError):
        kind = "disconnected"
        message = f"{who} lost the connection while answering. Please try again."
    else:
        kind = "unreadable"
        message = f"{who} sent an answer the chat could not read. Please try again."
    return BackendError(message, f"{type(exc).__name__}: {exc}", kind)


def _error_message(response: httpx.Response) -> str:
    """The ``error.message`` of our JSON error model, short and single-line."""
    try:
        body = response.json()
    except (ValueError, UnicodeDecodeError):
        return ""
    message = ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or "")
        elif isinstance(body.get("detail"), str):
            message = body["detail"]
    return " ".join(message.split())[:200]


async def _raise_for_status(response: httpx.Response) -> None:
    if response.is_error:
        await response.aread()
        response.raise_for_status()


@dataclass(frozen=True)
class ServerSentEvent:
    event: str  # "message" when the event names none
    data: str


async def server_sent_events(response: httpx.Response) -> AsyncIterator[ServerSentEvent]:
    """The events of a ``text/event-stream`` response, as they arrive (``event:`` and
    ``data:`` fields; comments and other fields are ignored)."""
    event = "message"
    data: list[str] = []
    async for line in response.aiter_lines():
        if not line:  # a blank line ends an event
            if data:
                yield ServerSentEvent(event, "\n".join(data))
            event, data = "message", []
        elif line.startswith("data:"):
            data.append(line[5:].removeprefix(" "))
        elif line.startswith("event:"):
            event = line[6:].strip()
    if data:
        yield ServerSentEvent(event, "\n".join(data))


def make_http_client(timeout: float, connect_timeout: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        headers={"User-Agent": "myretail-ui"},
        trust_env=False,
    )


# ------------------------------------------------------------------------------ shopping


class ShoppingClient:
    """The RAG API: ``POST /generate {"prompt", "session_id", "stream"}`` -> answer and sources.

    Streaming (the default), the answer grows with each ``delta`` event and the ``done``
    event brings the whole answer, the sources and the warnings; an ``error`` event
    (the RAG API failed midway: a dependency, its deadline) becomes a :class:`BackendError`.
    A RAG API that answers the request with plain JSON (the book's v0 API, which knows no
    ``stream``) is read as one answer.
    """

    name = SHOPPING

    def __init__(self, endpoint: str, http: httpx.AsyncClient, *, stream: bool = True) -> None:
        self.endpoint = normalise_endpoint(endpoint)
        self.http = http
        self.streaming = stream

    async def stream(self, prompt: str, session_id: str) -> AsyncIterator[Reply]:
        request: dict[str, Any] = {"prompt": prompt, "session_id": session_id}
        if self.streaming:
            request["stream"] = True
        try:
            async with self.http.stream("POST", self.endpoint.generate_url, json=request) as answer:
                await _raise_for_status(answer)
                if answer.headers.get("content-type", "").startswith("text/event-stream"):
                    async for reply in self._events(answer, session_id):
                        yield reply
                    return
                await answer.aread()
                body = answer.json()
            yield _shopping_reply(body, session_id)
        except Exception as exc:
            error = friendly_error(self.name, exc)
            logger.warning(
                "shopping backend failed",
                extra={"backend": self.endpoint.base_url, "reason": error.detail},
            )
            raise error from exc

    async def _events(self, answer: httpx.Response, session_id: str) -> AsyncIterator[Reply]:
        text = ""
        async for event in server_sent_events(answer):
            body = json.loads(event.data)
            if event.event == "delta":
                text += str(body.get("text") or "")
                yield Reply(text=text, session_id=session_id)
            elif event.event == "done":
                yield _shopping_reply(body, session_id)
                return
            elif event.event == "error":
                raise _stream_error(self.name, body)
        raise ValueError("the answer stream ended without its 'done' event")

    async def aclose(self) -> None:
        await self.http.aclose()


def _shopping_reply(body: Any, session_id: str) -> Reply:
    """The complete Shopping answer from the RAG API's body (or its ``done`` event)."""
    if not isinstance(body, dict) or not isinstance(body.get("response"), str):
        raise ValueError("the answer has no 'response' text")
    sources = [
        source
        for item in body.get("sources") or []
        if isinstance(item, dict) and (source := Source.from_payload(item)) is not None
    ]
    warnings = body.get("warnings")
    notes = [str(w) for w in warnings if isinstance(w, str)] if isinstance(warnings, list) else []
    return Reply(
        text=body["response"],
        sources=sources,
        session_id=str(body.get("session_id") or session_id),
        done=True,
        notes=notes[:5],
    )


def _stream_error(assistant: str, body: Any) -> BackendError:
    """An ``error`` event (the JSON error model) as the chat says it."""
    error = body.get("error") if isinstance(body, dict) else None
    kind = error.get("type") if isinstance(error, dict) else None
    reason = error.get("message") if isinstance(error, dict) else str(body)
    who = f"The {assistant} assistant"
    if kind == "timeout":
        shown = "timeout"
        message = f"{who} is taking too long to answer. Please try again in a moment."
    elif kind in ("service_unavailable", "catalog_empty"):
        shown = "unavailable"
        message = f"{who} is temporarily unavailable. Please try again in a moment."
    else:
        shown = "failed"
        message = f"{who} ran into a problem answering. Please try again."
    return BackendError(message, f"error event in stream: {kind}: {reason}"[:500], shown)


# ------------------------------------------------------------------------------- loyalty


class LoyaltyClient:
    """The fine-tuned model behind the inference service.

    Streams from the OpenAI-compatible ``/v1/chat/completions`` (server-sent events) when
    the service has it and ``stream`` is on; otherwise asks the book's v0 ``/generate``. Each
    question goes alone: the model was fine-tuned on single questions. Temperature 0
    (greedy) by default: a policy FAQ wants the learned answer, not a creative one.
    """

    name = LOYALTY

    def __init__(
        self,
        endpoint: str,
        http: httpx.AsyncClient,
        *,
        stream: bool = True,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
    ) -> None:
        self.endpoint = normalise_endpoint(endpoint)
        self.http = http
        self.streaming = stream
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self._model_id: str | None = None

    async def stream(self, prompt: str, session_id: str) -> AsyncIterator[Reply]:
        try:
            if self.streaming:
                model = await self._served_model()
                if model is not None:
                    async for reply in self._stream_chat(prompt, model, session_id):
                        yield reply
                    return
            yield await self._generate(prompt, session_id)
        except Exception as exc:
            error = friendly_error(self.name, exc)
            logger.warning(
                "loyalty backend failed",
                extra={"backend": self.endpoint.base_url, "reason": error.detail},
            )
            raise error from exc

    async def _served_model(self) -> str | None:
        """The model id from ``GET /v1/models``; None when the service is not OpenAI-compatible."""
        if self._model_id is None:
            response = await self.http.get(f"{self.endpoint.openai_base_url}/models")
            if response.status_code in (404, 405):
                logger.info("no OpenAI-compatible API; using /generate")
                self.streaming = False
                return None
            await _raise_for_status(response)
            models = response.json().get("data") or []
            self._model_id = str(models[0]["id"]) if models else "default"
        return self._model_id

    async def _stream_chat(self, prompt: str, model: str, session_id: str) -> AsyncIterator[Reply]:
        request = {
            "model": model,
            "messages": [{"role": "user", "content": prompt}],
            "max_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "stream": True,
            "user": session_id,
        }
        text = ""
        url = f"{self.endpoint.openai_base_url}/chat/completions"
        async with self.http.stream("POST", url, json=request) as response:
            await _raise_for_status(response)
            async for event in server_sent_events(response):
                if event.data.strip() == "[DONE]":
                    break
                chunk = json.loads(event.data)
                if "error" in chunk:
                    raise _stream_error(self.name, chunk)
                for choice in chunk.get("choices") or []:
                    delta = (choice.get("delta") or {}).get("content")
                    if delta:
                        text += delta
                        yield Reply(text=text, session_id=session_id)
        yield Reply(text=text.strip(), session_id=session_id, done=True)

    async def _generate(self, prompt: str, session_id: str) -> Reply:
        response = await self.http.post(
            self.endpoint.generate_url,
            json={
                "prompt": prompt,
                "max_new_tokens": self.max_new_tokens,
                "temperature": self.temperature,
            },
        )
        await _raise_for_status(response)
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("response"), str):
            raise ValueError("the answer has no 'response' text")
        return Reply(text=body["response"].strip(), session_id=session_id, done=True)

    async def aclose(self) -> None:
        await self.http.aclose()
