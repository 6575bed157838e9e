"""The upstream's dialect: vLLM's OpenAI-compatible ``/v1/completions``, as a remote
engine speaks it.

The request sends our own rendered prompt (the training format) and every sampling
parameter explicitly, vLLM's extensions included (``top_k``, ``repetition_penalty``,
``ignore_eos``, ``skip_special_tokens``), so generation follows our settings and not the
model's ``generation_config``. vLLM serves each LoRA adapter under the name given in
``--lora-modules NAME=DIR``: ours is ``<MODEL_NAME>-<tag>`` (:func:`upstream_model`).

Errors the upstream answers become the engine's errors, so the service keeps its own
status codes: refused as invalid (400, 422) -> :class:`RequestRefusedError` (400); busy
(429) -> :class:`QueueFullError` (429); unavailable (503), an adapter it does not serve
(404) -> :class:`UpstreamUnavailableError` (503); any other failure ->
:class:`UpstreamFailedError` (502).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from myretail_common.quoting import bounded
from myretail_inference.engine_api import (
    EngineError,
    QueueFullError,
    RequestRefusedError,
    SamplingParams,
    UpstreamUnavailableError,
)

_MESSAGE_CHARS = 300


class UpstreamFailedError(EngineError):
    """The upstream answered with an error of its own (a 5xx other than 503)."""


def upstream_model(model_name: str, tag: str) -> str:
    """The name the upstream serves a tag's adapter under (``--lora-modules``)."""
    return f"{model_name}-{tag}"


def server_root(base_url: str) -> str:
    """``http://host:8001/v1`` -> ``http://host:8001``: where vLLM serves ``/health``."""
    root = base_url.rstrip("/")
    return root.removesuffix("/v1")


def completion_body(model: str, prompt: str, params: SamplingParams) -> dict[str, Any]:
    """The streaming ``/v1/completions`` request for ``prompt`` with ``params``."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": params.max_new_tokens,
        "temperature": params.temperature,
        "top_p": params.top_p,
        "top_k": params.top_k or -1,  # vLLM: -1 keeps every token
        "repetition_penalty": params.repetition_penalty,
        "stop": list(params.stop),
        "ignore_eos": params.ignore_eos,
        "skip_special_tokens": True,
    }
    if params.seed is not None:
        body["seed"] = params.seed
    return body


def error_message(body: bytes) -> str:
    """The message of an upstream error body (OpenAI's shape, vLLM's, FastAPI's), bounded."""
    try:
        payload = json.loads(body)
    except ValueError:
        return bounded(body.decode("utf-8", "replace").strip() or "no message", _MESSAGE_CHARS)
    return bounded(_message_of(payload), _MESSAGE_CHARS)


def _message_of(payload: Any) -> str:
    if isinstance(payload, dict):
        for key in ("error", "message", "detail"):
            value = payload.get(key)
            if isinstance(value, str):
                return value
            if value is not None:
                return _message_of(value)
    if isinstance(payload, list) and payload:
        return _message_of(payload[0])
    return json.dumps(payload)[:_MESSAGE_CHARS]


def status_error(status: int, body: bytes, model: str) -> EngineError:
    """The engine error for an upstream answer with HTTP status ``status``."""
    message = error_message(body)
    if status in (400, 422):
        return RequestRefusedError(f"the model server refused the request: {message}")
    if status == 404:
        return UpstreamUnavailableError(
            f"the model server does not serve {model} (is the adapter in --lora-modules?): "
            f"{message}"
        )
    if status == 429:
        return QueueFullError(f"the model server is at capacity; retry later ({message})")
    if status == 503:
        return UpstreamUnavailableError(f"the model server is unavailable: {message}")
    return UpstreamFailedError(f"the model server failed with HTTP {status}: {message}")


async def sse_payloads(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects of a server-sent event stream, read as the bytes arrive, up to
    ``data: [DONE]``.

    Lines are split here, in one pass over each read, rather than by httpx's text and
    line decoders: the stream is one short event per token, the gateway's hot path.
    """
    pending = b""
    async for chunk in chunks:
        lines = (pending + chunk).splitlines(keepends=True)
        # A line without its end yet (a trailing "\r" may be half of "\r\n") waits.
        pending = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        for line in lines:
            payload = _event_data(line)
            if payload is _DONE:
                return
            if payload is not None:
                yield payload
    payload = _event_data(pending)
    if payload is not None and payload is not _DONE:
        yield payload


_DONE: dict[str, Any] = {}  # the ``data: [DONE]`` line


def _event_data(line: bytes) -> dict[str, Any] | None:
    """The JSON object of a ``data:`` line, :data:`_DONE` for the end, else None."""
    if not line.startswith(b"data:"):
        return None  # blank separators, comments, event names
    data = line[len(b"data:") :].strip()
    if data == b"[DONE]":
        return _DONE
    payload = json.loads(data.decode("utf-8", "replace"))
    return payload if isinstance(payload, dict) else None


def stream_error(payload: dict[str, Any]) -> str | None:
    """The message of an error event sent mid-stream, or None for an ordinary chunk."""
    if "error" in payload or payload.get("object") == "error":
        return bounded(_message_of(payload), _MESSAGE_CHARS)
    return None
