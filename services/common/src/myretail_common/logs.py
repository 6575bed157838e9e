"""JSON logs to stdout with request ids, and secrets kept out of every line.

``configure_logging`` installs one handler on the root logger. Every record carries the
request id of the HTTP request being served (set by ``RequestIdMiddleware`` in
``myretail_common.http``) and any ``extra={...}`` fields. Values registered with
``register_secret`` (API keys, S3 secrets, tokens) are masked in every line, whoever logs
them, botocore's debug output included.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)

MASK = "***"
_SENSITIVE_NAMES = ("secret", "password", "token", "api_key", "apikey", "authorization")
_RESERVED = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Mask ``value`` wherever it would appear in a log line (ignores short values)."""
    if value and len(value) >= 4:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    """Replace every registered secret in ``text`` with a mask."""
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SENSITIVE_NAMES)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id:
            payload["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key in _RESERVED or key.startswith("_"):
                continue
            payload[key] = MASK if _is_sensitive(key) else value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(payload, default=str, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """Human-readable lines for local runs, with the same masking."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        request_id = request_id_var.get()
        if request_id:
            line = f"{line} [request_id={request_id}]"
        return redact(line)


def configure_logging(level: str = "INFO", fmt: str = "json", stream: Any = None) -> None:
    """Send every logger's records to one stdout handler in the chosen format."""
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Server access logs duplicate our own request logs; keep uvicorn's errors only.
    logging.getLogger("uvicorn.access").disabled = True
    # Client libraries are chatty below WARNING; DEBUG asks for everything (still masked).
    for noisy in ("botocore", "aiobotocore", "s3fs", "urllib3", "httpx", "httpcore", "fsspec"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
