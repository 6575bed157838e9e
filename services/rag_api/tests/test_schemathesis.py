"""Property-based API test: requests generated from /openapi.json never cause a 5xx.

The app is the real one (real model, the real catalog in embedded Qdrant, SQLite
history, retrieval-only). ``/load_data`` is protected by an admin token the generated
requests do not have, so no generated URL is ever fetched.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from pydantic import SecretStr
from schemathesis.generation import GenerationMode

from myretail_rag.app import create_app

pytestmark = pytest.mark.slow

EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}


@pytest.fixture
def api_schema(settings, store, history, embedding_model) -> Any:
    secured = settings.model_copy(update={"admin_token": SecretStr("schemathesis-admin")})
    app = create_app(secured, embeddings=embedding_model, vector_store=store, history=history)
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]


def test_the_schema_lists_every_route(api_schema: Any) -> None:
    labels = {operation.label for operation in _operations(api_schema)}
    assert {
        "POST /generate",
        "POST /load_data",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    } <= labels


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.value)
def test_no_server_errors(api_schema: Any, mode: GenerationMode) -> None:
    for operation in _operations(api_schema):
        if mode is GenerationMode.NEGATIVE and not operation.body:
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(checks=[schemathesis.checks.not_a_server_error])

        check()
