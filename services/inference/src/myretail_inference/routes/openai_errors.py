"""OpenAI's error shape for everything under ``/v1``.

The service answers errors in the project's JSON model (:mod:`myretail_common.errors`:
``{"error": {"type", "message", "details", "request_id"}}``). OpenAI clients expect
``{"error": {"message", "type", "param", "code"}}``, so an ASGI middleware rewrites every
JSON error answered under ``/v1`` (validation, refusals, unknown model or path, 413, 429,
5xx, whichever layer answered it) into that shape. Routes and the shared error handlers
stay unaware of the dialect; ``/generate`` and the health routes keep the project's model.

Mapping: ``message`` is kept; ``code`` is the project's error type (``model_not_found``,
``unsupported_parameter``, ``context_length_exceeded``, ``invalid_request``...);
``param`` is the first field named in ``details`` (``body.`` dropped); ``type`` is
OpenAI's class of the status: ``invalid_request_error`` for 4xx, ``authentication_error``
(401), ``permission_error`` (403), ``rate_limit_error`` (429), ``server_error`` for 5xx.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PREFIX = "/v1"
_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def openai_error(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    """OpenAI's error body."""
    default = "server_error" if status >= 500 else "invalid_request_error"
    return {
        "error": {
            "message": message,
            "type": _TYPES.get(status, default),
            "param": param,
            "code": code,
        }
    }


def _param(details: Any) -> str | None:
    if not isinstance(details, list) or not details or not isinstance(details[0], dict):
        return None
    field = str(details[0].get("field", ""))
    return field.removeprefix("body.").removeprefix("body") or None


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def translate(status: int, body: bytes) -> dict[str, Any]:
    """The OpenAI form of an error body in the project's model (or of any other body)."""
    try:
        error = json.loads(body)["error"]
        message, code = str(error["message"]), str(error["type"])
    except (ValueError, KeyError, TypeError):  # not the project's model: name the status
        return openai_error(status, _phrase(status))
    return openai_error(status, message, code=code, param=_param(error.get("details")))


def is_openai_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class OpenAIErrorMiddleware:
    """Rewrites error bodies under ``/v1`` into OpenAI's shape (pure ASGI: streams untouched).

    Only responses with a 4xx/5xx status are held back (they are small); a stream has
    answered 200 before any error inside it, and those errors are written by the route.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_openai_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}
        parts: list[bytes] = []

        async def send_openai(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] >= 400:
                held["start"] = message
                return
            if message["type"] != "http.response.body" or "start" not in held:
                await send(message)
                return
            parts.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            start = held["start"]
            body = json.dumps(translate(start["status"], b"".join(parts))).encode()
            headers = [
                (name, value)
                for name, value in start.get("headers", [])
                if name.lower() not in (b"content-length", b"content-type")
            ]
            headers += [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, send_openai)
