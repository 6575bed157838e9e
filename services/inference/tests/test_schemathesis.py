"""Property-based API test: inputs generated from /openapi.json never cause a 5xx.

Schemathesis generates valid and invalid requests for every operation and sends them
through the ASGI app (with the real engine); ``not_a_server_error`` fails on any 5xx.
"""

from __future__ import annotations

from typing import Any

import pytest
from schemathesis.generation import GenerationMode

from myretail_inference.app import create_app
from myretail_inference.engine import BatchingEngine
from myretail_inference.settings import InferenceSettings
from myretail_testkit.api_fuzzing import assert_no_server_errors, openapi_schema, operation_labels

pytestmark = pytest.mark.slow

EXAMPLES = {GenerationMode.POSITIVE: 20, GenerationMode.NEGATIVE: 10}


@pytest.fixture(scope="module")
def api_schema(settings: InferenceSettings, engine: BatchingEngine) -> Any:
    # Few new tokens per request keep a couple of hundred generated examples quick.
    small = settings.model_copy(update={"default_max_new_tokens": 4, "max_new_tokens_limit": 8})
    return openapi_schema(create_app(small, engine))


def test_schema_lists_every_route(api_schema: Any) -> None:
    assert {
        "POST /generate",
        "GET /v1/models",
        "POST /v1/chat/completions",
        "POST /v1/completions",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    } <= operation_labels(api_schema)


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.value)
def test_no_server_errors(api_schema: Any, mode: GenerationMode) -> None:
    assert_no_server_errors(api_schema, mode, EXAMPLES[mode])
