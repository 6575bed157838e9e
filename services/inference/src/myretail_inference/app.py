"""The app factory: ``create_app(settings, engine=None)``.

With an engine (tests build the real one small) the app serves it as given and leaves
its lifecycle to the caller. Without one, the app loads the model named by the settings
in a worker thread at startup, warms it up and only then reports ready on ``/readyz``;
``/healthz`` answers meanwhile. Nothing heavy happens at import or in the factory.
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

from myretail_common.health import Readiness
from myretail_common.http import create_service_app
from myretail_inference import __version__
from myretail_inference.engine_api import Engine
from myretail_inference.metrics import InferenceMetrics
from myretail_inference.routes import generate, openai
from myretail_inference.routes.openai_errors import OpenAIErrorMiddleware
from myretail_inference.service import ParameterError, ServingState, on_parameter_error
from myretail_inference.settings import InferenceSettings

logger = logging.getLogger(__name__)

DESCRIPTION = (
    "The MyRetail Loyalty assistant: a base model plus the fine-tuned adapter named by "
    "(MODEL_NAME, MODEL_TAG), served with continuous batching. `POST /generate` is the "
    "book's v0 API; `/v1/*` is OpenAI-compatible (streaming included)."
)


def _load_engine(settings: InferenceSettings, metrics: InferenceMetrics) -> Engine:
    """Load the model and build, start and warm up the engine (blocking; worker thread)."""
    from myretail_inference.engine import BatchingEngine, engine_options, exit_for_restart
    from myretail_inference.loader import load_model

    loaded = load_model(settings)
    engine = BatchingEngine(
        loaded.model,
        loaded.tokenizer,
        loaded.info,
        **engine_options(settings),
        observer=metrics,
        on_fatal=exit_for_restart,  # a dead GPU: exit, so that Kubernetes restarts the pod
    )
    metrics.set_model(loaded.info)
    engine.warmup()
    return engine


def create_app(
    settings: InferenceSettings | None = None,
    engine: Engine | None = None,
    *,
    exit_on_load_failure: bool = False,
) -> FastAPI:
    """Build the inference app; ``engine`` is served as given, else loaded at startup.

    ``exit_on_load_failure`` (the CLI) ends the process with exit code 1 when the model
    cannot be loaded, so the pod restarts with the error in its log instead of idling.
    """
    settings = settings or InferenceSettings()
    registry = CollectorRegistry()
    metrics = InferenceMetrics(registry)
    state = ServingState(settings=settings, metrics=metrics, engine=engine)
    if engine is not None:
        engine.observer = metrics
        metrics.set_model(engine.info)
    readiness = Readiness()
    readiness.add("model", state.check_ready)
    liveness = Readiness()
    liveness.add("engine", state.check_alive)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task: asyncio.Task[None] | None = None
        if state.engine is None:
            task = asyncio.create_task(_load_in_background(state, exit_on_load_failure))
        try:
            yield
        finally:
            if task is not None:  # the app loaded the engine, so the app stops it
                task.cancel()
                if state.engine is not None:
                    await asyncio.to_thread(state.engine.stop)

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
    app.add_exception_handler(ParameterError, on_parameter_error)
    # Outermost, so that errors answered by any layer under /v1 are in OpenAI's shape.
    app.add_middleware(OpenAIErrorMiddleware)
    app.include_router(generate.router)
    app.include_router(openai.router)
    return app


async def _load_in_background(state: ServingState, exit_on_failure: bool) -> None:
    state.loading = True
    try:
        state.engine = await asyncio.to_thread(_load_engine, state.settings, state.metrics)
        logger.info("ready to serve", extra={"model": state.engine.info.name})
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
