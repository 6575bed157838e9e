"""The UI's Prometheus metrics (beside the HTTP metrics every service has), served on
``METRICS_PORT``: chat sessions started and the errors the chat showed shoppers.

Labels stay bounded: the two assistants and the error kinds, never sessions or questions.
Every (assistant, kind) series exists from the start at 0.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from myretail_ui.clients import ERROR_KINDS, LOYALTY, SHOPPING

#: Errors the chat itself raises, beside the backends' (clients.ERROR_KINDS).
UI_ERROR_KINDS = ("too_long", "internal")


class UIMetrics:
    """Sessions started and errors shown."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.sessions = Counter(
            "ui_sessions_started_total",
            "Chat sessions started: each page load and each Clear starts one",
            registry=registry,
        )
        self.errors = Counter(
            "ui_errors_shown_total",
            "Errors shown to shoppers in the chat, by assistant and kind",
            ["assistant", "kind"],
            registry=registry,
        )
        for assistant in (SHOPPING, LOYALTY):
            for kind in (*ERROR_KINDS, *UI_ERROR_KINDS):
                self.errors.labels(assistant, kind)

    def session_started(self) -> None:
        self.sessions.inc()

    def error_shown(self, assistant: str, kind: str) -> None:
        self.errors.labels(assistant, kind).inc()
