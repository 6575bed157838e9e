"""The JSON error model every service answers with, and the FastAPI handlers for it.

Every error body is ``{"error": {"type": ..., "message": ..., "details": [...]}}``.
Client mistakes are 4xx with a message that says what is wrong (never the submitted
values, which may hold secrets); a dependency that is down is a 503 naming it; anything
unexpected is a 500 with a request id and no stack trace.

What a client sent is quoted at most as a short prefix
(:func:`myretail_common.quoting.client_text`); every message, field name and list of
problems is bounded, and text that cannot be encoded (a lone surrogate) is replaced, so
building an error answer can never fail itself.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from myretail_common.logs import request_id_var
from myretail_common.quoting import bounded

logger = logging.getLogger(__name__)

MAX_MESSAGE_CHARS = 500
MAX_FIELD_CHARS = 64
MAX_DETAILS = 20


class FieldProblem(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    type: str
    message: str
    details: list[FieldProblem] | None = None
    request_id: str | None = None


class ErrorResponse(BaseModel):
    """Body of every non-2xx answer."""

    error: ErrorBody


class ApiError(Exception):
    """An error with a status code and a message that is safe to show to clients.

    Subclasses name their defaults in the class line:
    ``class NotFoundError(ApiError, status_code=404, error_type="not_found")``.
    """

    status_code = 400
    error_type = "bad_request"

    def __init_subclass__(
        cls, status_code: int | None = None, error_type: str | None = None, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if status_code is not None:
            cls.status_code = status_code
        if error_type is not None:
            cls.error_type = error_type

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_type: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code
        if error_type is not None:
            self.error_type = error_type
        self.headers = headers or {}


class BadRequestError(ApiError, status_code=400, error_type="bad_request"):
    """The request is invalid; the message says what is wrong."""


class UnauthorizedError(ApiError, status_code=401, error_type="unauthorized"):
    """A protected route was called without a valid Bearer token."""

    def __init__(self, message: str = "a valid Bearer token is required") -> None:
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class NotFoundError(ApiError, status_code=404, error_type="not_found"):
    """The named thing (route, model, tag) does not exist."""


class PayloadTooLargeError(ApiError, status_code=413, error_type="payload_too_large"):
    """The request or what it points at is larger than allowed."""


class TooManyRequestsError(ApiError, status_code=429, error_type="too_many_requests"):
    """The service is at capacity; ``Retry-After`` says when to try again."""

    def __init__(self, message: str, retry_after_seconds: int = 1) -> None:
        super().__init__(message, headers={"Retry-After": str(retry_after_seconds)})


class ServiceUnavailableError(ApiError, status_code=503, error_type="service_unavailable"):
    """A dependency (model, vector store, chat model, history store) is down."""

    def __init__(self, dependency: str, message: str, retry_after_seconds: int = 5) -> None:
        super().__init__(
            f"{dependency} is unavailable: {message}",
            headers={"Retry-After": str(retry_after_seconds)},
        )
        self.dependency = dependency


class GatewayTimeoutError(ApiError, status_code=504, error_type="timeout"):
    """The work did not finish in time."""


def error_response(
    status_code: int,
    error_type: str,
    message: str,
    details: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(
        error=ErrorBody(
            type=error_type,
            message=bounded(message, MAX_MESSAGE_CHARS),
            details=details[:MAX_DETAILS] if details else details,
            request_id=request_id_var.get(),
        )
    )
    return JSONResponse(
        status_code=status_code, content=body.model_dump(exclude_none=True), headers=headers
    )


def _field_name(location: tuple[Any, ...] | list[Any]) -> str:
    # Parts of a location can be keys the client chose (extra fields, dict keys).
    name = ".".join(bounded(str(part), MAX_FIELD_CHARS) for part in location) or "body"
    return bounded(name, 4 * MAX_FIELD_CHARS)


def validation_problems(errors: list[Any]) -> list[FieldProblem]:
    """Readable field problems from pydantic errors, without echoing submitted values."""
    return [
        FieldProblem(
            field=_field_name(error.get("loc", ())),
            message=bounded(str(error.get("msg", "invalid")), MAX_FIELD_CHARS * 3),
        )
        for error in errors[:MAX_DETAILS]
    ]


async def _on_api_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    if exc.status_code >= 500:
        logger.warning("request failed", extra={"status": exc.status_code, "reason": exc.message})
    return error_response(exc.status_code, exc.error_type, exc.message, headers=exc.headers)


async def _on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        return error_response(400, "invalid_json", "request body is not valid JSON")
    problems = validation_problems(errors)
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:5])
    return error_response(422, "invalid_request", f"invalid request: {summary}", problems)


async def _on_http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error_type = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(
        exc.status_code, error_type, str(exc.detail), headers=getattr(exc, "headers", None)
    )


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error with the JSON error model."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
