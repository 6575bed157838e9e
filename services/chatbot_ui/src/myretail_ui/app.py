"""The UI's app factory: a MyRetail FastAPI service with the Gradio UI mounted at "/".

``/healthz`` and ``/readyz`` come from ``myretail_common.http`` and are answered by FastAPI
before the Gradio mount sees the request. The port is public, so it shows the chat and the
probes only: FastAPI's ``/docs``, ``/redoc`` and ``/openapi.json`` are off
(``PUBLIC_API_DOCS``) and ``/metrics`` is served on ``METRICS_PORT`` (9090) by
``myretail-ui``. Request bodies (Gradio's too) are capped and checked by the shared base.
The UI is ready as soon as it serves: a backend that is down is shown in the chat, not by
taking the UI out of the load balancer.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from myretail_common.errors import NotFoundError
from myretail_common.health import Readiness
from myretail_common.http import create_service_app
from myretail_ui import __version__
from myretail_ui.clients import (
    LOYALTY,
    SHOPPING,
    AssistantClient,
    LoyaltyClient,
    ShoppingClient,
    make_http_client,
)
from myretail_ui.metrics import UIMetrics
from myretail_ui.settings import UISettings


def create_assistants(settings: UISettings) -> dict[str, AssistantClient]:
    """The two backends, as configured by ``RAG_API_ENDPOINT`` and ``INFERENCE_API_ENDPOINT``."""
    timeouts = (settings.backend_timeout_seconds, settings.backend_connect_timeout_seconds)
    return {
        SHOPPING: ShoppingClient(
            settings.rag_api_endpoint, make_http_client(*timeouts), stream=settings.stream_answers
        ),
        LOYALTY: LoyaltyClient(
            settings.inference_api_endpoint,
            make_http_client(*timeouts),
            stream=settings.stream_answers,
            max_new_tokens=settings.loyalty_max_new_tokens,
            temperature=settings.loyalty_temperature,
        ),
    }


def create_app(
    settings: UISettings | None = None, assistants: Mapping[str, AssistantClient] | None = None
) -> FastAPI:
    """The UI service; ``assistants`` defaults to HTTP clients of the configured backends."""
    settings = settings or UISettings()
    # Gradio must not phone home (no network in the local profile); set before importing it.
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    from myretail_ui.ui import CSS, build_ui

    backends = dict(assistants) if assistants is not None else create_assistants(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for assistant in backends.values():
            await assistant.aclose()

    readiness = Readiness()
    readiness.add("ui", lambda: None)
    registry = CollectorRegistry()
    app = create_service_app(
        title="MyRetail chatbot UI",
        version=__version__,
        description="Gradio chat with the Shopping and Loyalty Program assistants",
        readiness=readiness,
        lifespan=lifespan,
        settings=settings,
        registry=registry,
    )
    app.state.settings = settings
    app.state.assistants = backends
    if not settings.public_api_docs:

        @app.get("/gradio_api/openapi.json", include_in_schema=False)
        async def no_gradio_api_description() -> None:
            """Gradio describes its API here; like the docs, not on the public port."""
            raise NotFoundError("not found")

    blocks = build_ui(settings, backends, UIMetrics(registry))
    return gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        root_path=settings.root_path,
        ssr_mode=False,
        footer_links=[],
        css=CSS,
        theme=gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"]),
        show_error=False,
        # Gradio's own FastAPI app has API docs too: off with ours.
        app_kwargs=(
            {}
            if settings.public_api_docs
            else {"openapi_url": None, "docs_url": None, "redoc_url": None}
        ),
    )
