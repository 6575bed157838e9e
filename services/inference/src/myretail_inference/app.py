"""The app factory: ``create_app(settings, engine=None, canary=None)``.

With an engine (tests build the real one small) the app serves it as given and leaves
its lifecycle to the caller; ``canary`` is a second engine, for CANARY_WEIGHT percent of
sessions. Without one, the app builds the engines the settings name at startup, in a
worker thread: ``ENGINE=native`` loads each served tag (MODEL_TAG, and CANARY_TAG when
set) and warms it up; ``ENGINE=remote`` loads only their tokenizers and talks to the
model server at UPSTREAM_BASE_URL. ``/readyz`` turns ready once that is done (and, for
``remote``, while the model server is healthy and serves the adapters); ``/healthz``
answers meanwhile. Nothing heavy happens at import or in the factory.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from myretail_common.health import Readiness
from myretail_common.http import create_service_app
from myretail_inference import __version__
from myretail_inference.drain import Drain, DrainMiddleware
from myretail_inference.engine_api import Engine
from myretail_inference.metrics import InferenceMetrics
from myretail_inference.remote_engine import RemoteEngine
from myretail_inference.routes import generate, openai
from myretail_inference.routes.openai_errors import OpenAIErrorMiddleware
from myretail_inference.service import ParameterError, ServingState, on_parameter_error
from myretail_inference.settings import InferenceSettings

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "The MyRetail Loyalty assistant: a base model plus the fine-tuned adapter named by "
    "(MODEL_NAME, MODEL_TAG), served with continuous batching (or by a vLLM server behind "
    "this gateway). `POST /generate` is the book's v0 API; `/v1/*` is OpenAI-compatible "
    "(streaming included). Every answer names its tag: `model` and `X-Model-Tag`."
)
MODEL_TAG_HEADER = "X-Model-Tag"


def _load_engine(settings: InferenceSettings, metrics: InferenceMetrics) -> Engine:
    """ENGINE=native: load the tag's model, build, start and warm up the engine
    (blocking; worker thread)."""
    from myretail_inference.engine import BatchingEngine, engine_options, exit_for_restart
    from myretail_inference.loader import load_model

    loaded = load_model(settings)
    engine = BatchingEngine(
        loaded.model,
        loaded.tokenizer,
        loaded.info,
        **engine_options(settings),
        observer=metrics.observer(loaded.info.tag),
        on_fatal=exit_for_restart,  # a dead GPU: exit, so that Kubernetes restarts the pod
    )
    metrics.set_model(loaded.info)
    engine.warmup()
    return engine


def _remote_engine(settings: InferenceSettings, metrics: InferenceMetrics) -> RemoteEngine:
    """ENGINE=remote: the tag's tokenizer (no weights) and the model server's address."""
    from myretail_inference.loader import load_tokenizer
    from myretail_inference.upstream import upstream_model

    tokenizer, info = load_tokenizer(settings)
    engine = RemoteEngine(
        info,
        tokenizer,
        base_url=settings.upstream_base_url,
        upstream_model=upstream_model(info.name, info.tag),
        timeout_seconds=settings.upstream_timeout_seconds,
        request_timeout_seconds=settings.request_timeout_seconds,
        max_in_flight=settings.max_batch_size + settings.max_queue_size,
        observer=metrics.observer(info.tag),
    )
    metrics.set_model(info)
    engine.warmup()
    return engine


def _load_engines(settings: InferenceSettings, metrics: InferenceMetrics) -> dict[str, Engine]:
    """One engine per served tag, the stable tag's first."""
    from myretail_inference.loader import ModelLoadError

    build = _remote_engine if settings.engine == "remote" else _load_engine
    engines: dict[str, Engine] = {}
    for tag in settings.tags:
        engines[tag] = build(settings.model_copy(update={"model_tag": tag}), metrics)
    bases = {engine.info.base_model for engine in engines.values()}
    if settings.engine == "remote" and len(bases) > 1:
        raise ModelLoadError(
            f"the served tags {', '.join(engines)} have different base models "
            f"({', '.join(sorted(bases))}); the model server serves every adapter on one base"
        )
    return engines


def create_app(
    settings: InferenceSettings | None = None,
    engine: Engine | None = None,
    *,
    canary: Engine | None = None,
    exit_on_load_failure: bool = False,
) -> FastAPI:
    """Build the inference app; ``engine`` (and ``canary``) are served as given, else the
    engines are built at startup.

    ``exit_on_load_failure`` (the CLI) ends the process with exit code 1 when the model
    cannot be loaded, so the pod restarts with the error in its log instead of idling.
    """
    settings = settings or InferenceSettings()
    registry = CollectorRegistry()
    metrics = InferenceMetrics(registry)
    drain = Drain(settings.drain_seconds)
    state = ServingState(settings=settings, metrics=metrics, drain=drain)
    for given in (engine, canary):
        if given is not None:
            given.observer = metrics.observer(given.info.tag)
            metrics.set_model(given.info)
            state.engines[given.info.tag] = given
    readiness = Readiness()
    readiness.add("model", state.check_ready)
    if settings.engine == "remote" or any(isinstance(e, RemoteEngine) for e in (engine, canary)):
        readiness.add("model_server", lambda: _probe_model_server(state))
    liveness = Readiness()
    liveness.add("engine", state.check_alive)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = None
        if not state.engines:
            task = asyncio.create_task(_load_in_background(state, exit_on_load_failure))
        try:
            yield
        finally:
            if task is not None:  # the app loaded the engines, so the app stops them
                task.cancel()
                for loaded in state.engines.values():
                    await asyncio.to_thread(loaded.stop)

    app = create_service_app(
        title="MyRetail inference",
        version=__version__,
        readiness=readiness,
        description=DESCRIPTION,
        registry=registry,
        lifespan=lifespan,
        settings=settings,  # the body cap (MAX_REQUEST_BYTES), docs and metrics port
        liveness=liveness,
    )
    app.state.serving = state
    app.state.drain = drain
    app.add_exception_handler(ParameterError, on_parameter_error)
    app.add_middleware(ModelTagMiddleware)
    app.add_middleware(DrainMiddleware, drain=drain)
    # Outermost, so that errors answered by any layer under /v1 are in OpenAI's shape.
    app.add_middleware(OpenAIErrorMiddleware)
    app.include_router(generate.router)
    app.include_router(openai.router)
    return app


async def _probe_model_server(state: ServingState) -> str:
    """Readiness of ENGINE=remote: the model server is healthy and serves every tag."""
    engines = [engine for engine in state.engines.values() if isinstance(engine, RemoteEngine)]
    if not engines:
        raise RuntimeError("not connected yet (loading)")
    for engine in engines:
        await engine.probe()
    return "ok"


class ModelTagMiddleware:
    """Adds ``X-Model-Tag: <tag>`` to the answer of every request a tag answered."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_tag(message: Message) -> None:
            tag = scope.get("state", {}).get("model_tag")
            if message["type"] == "http.response.start" and tag:
                headers = list(message.get("headers", []))
                headers.append((MODEL_TAG_HEADER.lower().encode(), str(tag).encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_tag)


async def _load_in_background(state: ServingState, exit_on_failure: bool) -> None:
    state.loading = True
    try:
        engines = await asyncio.to_thread(_load_engines, state.settings, state.metrics)
        state.engines.update(engines)
        logger.info(
            "ready to serve",
            extra={"model": state.settings.model_name, "tags": list(engines)},
        )
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        state.load_error = str(exc) or type(exc).__name__
        logger.error("model failed to load", extra={"reason": state.load_error})
        if exit_on_failure:  # nothing to serve: end the process so the pod restarts
            print(f"error: model failed to load: {state.load_error}", file=sys.stderr, flush=True)
            os._exit(1)
    finally:
        state.loading = False
