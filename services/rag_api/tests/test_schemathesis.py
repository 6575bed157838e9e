"""Property-based API test: requests generated from /openapi.json never cause a 5xx.

The app is the real one (real model, the real catalog in embedded Qdrant, SQLite
history, retrieval-only). ``/load_data`` is protected by an admin token the generated
requests do not have, so no generated URL is ever fetched.
"""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr
from schemathesis.generation import GenerationMode

from myretail_rag.api.app import create_app
from myretail_testkit.api_fuzzing import assert_no_server_errors, openapi_schema, operation_labels

pytestmark = pytest.mark.slow

EXAMPLES = {GenerationMode.POSITIVE: 25, GenerationMode.NEGATIVE: 15}


@pytest.fixture
def api_schema(settings, store, history, embedding_model) -> Any:
    secured = settings.model_copy(
        update={"admin_token": SecretStr("schemathesis-admin-0123456789abcdef")}
    )
    app = create_app(secured, embeddings=embedding_model, vector_store=store, history=history)
    return openapi_schema(app)


def test_the_schema_lists_every_route(api_schema: Any) -> None:
    assert {
        "POST /generate",
        "POST /load_data",
        "GET /healthz",
        "GET /readyz",
        "GET /metrics",
    } <= operation_labels(api_schema)


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda mode: mode.value)
def test_no_server_errors(api_schema: Any, mode: GenerationMode) -> None:
    assert_no_server_errors(api_schema, mode, EXAMPLES[mode])
