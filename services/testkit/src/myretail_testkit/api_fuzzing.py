"""Property-based API tests with schemathesis: generated requests never get a 5xx.

Each service's suite builds its real app and calls :func:`assert_no_server_errors` once
per generation mode: every operation of the app's ``/openapi.json`` gets ``examples``
generated requests (valid ones in ``POSITIVE`` mode, broken ones in ``NEGATIVE``), sent
through the ASGI app, and schemathesis' ``not_a_server_error`` check fails on any 5xx.
Runs are derandomized, so a failure reproduces.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode


def openapi_schema(app: Any) -> Any:
    """The app's own OpenAPI document, with requests sent through the app in-process."""
    return schemathesis.openapi.from_asgi("/openapi.json", app)


def operation_labels(schema: Any) -> set[str]:
    """``"POST /generate"``-style labels of every operation in the schema."""
    return {operation.label for operation in _operations(schema)}


def assert_no_server_errors(schema: Any, mode: GenerationMode, examples: int) -> None:
    for operation in _operations(schema):
        if mode is GenerationMode.NEGATIVE and not operation.body:
            continue  # nothing to get wrong in a request without a body or parameters

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=examples,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def check(case: Any) -> None:
            case.call_and_validate(checks=[schemathesis.checks.not_a_server_error])

        check()


def _operations(schema: Any) -> list[Any]:
    return [result.ok() for result in schema.get_all_operations()]
