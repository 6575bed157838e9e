"""Limits before work: every request body is capped and checked before any route parses it.

:class:`RequestGuardMiddleware` (pure ASGI, installed by ``create_service_app`` on every
service, mounted apps such as Gradio included) reads the body first:

* larger than the cap (``MAX_REQUEST_BYTES``) -> 413, from the declared ``Content-Length``
  before a byte is read, or as soon as the received bytes pass the cap;
* JSON holding text that cannot be encoded (an unpaired surrogate escape such as
  ``"\\ud800"``, which Python's parser accepts but no UTF-8 encoder, log line, tokenizer or
  database does) or a non-standard number (``NaN``, ``Infinity``) -> 400.

Then it hands the route the same bytes, and the connection's later messages (a client that
disconnects) unchanged. Errors are the JSON error model of :mod:`myretail_common.errors`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from myretail_common.errors import error_response

DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# Only bodies with one of these can hold what the check refuses: the full parse runs then.
_SUSPECT = re.compile(rb"\\u[dD][89a-fA-F]|NaN|Infinity")
_SURROGATE = re.compile("[\ud800-\udfff]")


class UnacceptableJsonError(ValueError):
    """Valid-looking JSON that no part of a service can safely handle."""


def _refuse_constant(name: str) -> Any:
    raise UnacceptableJsonError(f"numbers must be finite ({name} is not JSON)")


def check_json_text(body: bytes) -> None:
    """Raise :class:`UnacceptableJsonError` when ``body`` parses as JSON but holds an unpaired
    surrogate in any key or string, or NaN/Infinity; bodies that do not parse are left to the
    route (it answers ``invalid_json``)."""
    if not _SUSPECT.search(body):
        return
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except UnacceptableJsonError:
        raise
    except (ValueError, RecursionError):
        return
    pending = [document]
    while pending:  # iterative: a deeply nested body must not exhaust the stack
        item = pending.pop()
        if isinstance(item, str):
            texts: list[Any] = [item]
        elif isinstance(item, dict):
            texts = list(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            texts = []
            pending.extend(item)
        else:
            continue
        if any(_SURROGATE.search(text) for text in texts):
            raise UnacceptableJsonError(
                "text must be valid Unicode: the body holds an unpaired surrogate escape "
                "(such as \\ud800)"
            )


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers") or []:
        if name == b"content-type":
            kind = value.split(b";")[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return True  # FastAPI parses a body without a content type as JSON too


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers") or []:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class RequestGuardMiddleware:
    """Cap and check each HTTP request body before the app sees it (see the module doc)."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before sending it all
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body and _is_json(scope):
            try:
                check_json_text(body)
            except UnacceptableJsonError as exc:
                response = error_response(400, "invalid_json", str(exc))
                await response(scope, receive, send)
                return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413,
            "payload_too_large",
            f"the request body is larger than {self.max_body_bytes} bytes (MAX_REQUEST_BYTES)",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body once, then the connection's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
