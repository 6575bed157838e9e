"""The layering rules: routes get their parts through FastAPI dependencies, nothing below
the API layer speaks HTTP, and every domain error has its HTTP answer in one table."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import myretail_rag
from myretail_common.errors import ApiError, ServiceUnavailableError
from myretail_rag.api import routes
from myretail_rag.api.components import NotReadyError
from myretail_rag.api.errors import DOMAIN_ERRORS, http_error
from myretail_rag.catalog import embeddings, schema, sources, vector_store
from myretail_rag.conversation import chain, history

PACKAGE = Path(myretail_rag.__file__).parent
BELOW_THE_API = ("catalog", "conversation", "understanding")


def _modules(package: str) -> list[Path]:
    return sorted((PACKAGE / package).rglob("*.py"))


def test_routes_read_no_app_state():
    route_files = sorted(Path(routes.__file__).parent.glob("*.py"))
    assert len(route_files) >= 3
    for path in route_files:
        for node in ast.walk(ast.parse(path.read_text())):
            # Parts come through Depends; a route takes no Request to dig in app.state.
            assert not (isinstance(node, ast.Attribute) and node.attr == "state"), path
            if isinstance(node, ast.ImportFrom):
                assert "Request" not in [alias.name for alias in node.names], path


@pytest.mark.parametrize("package", BELOW_THE_API)
def test_nothing_below_the_api_imports_http_code(package):
    for path in _modules(package):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                names += [alias.name for alias in getattr(node, "names", [])]
                for name in names:
                    assert not name.startswith(("fastapi", "myretail_common.errors")), path
                    assert not name.startswith("myretail_rag.api"), path


def _domain_exceptions() -> list[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for package in BELOW_THE_API:
        prefix = f"myretail_rag.{package}."
        path = [str(PACKAGE / package)]
        for info in pkgutil.walk_packages(path, prefix):
            module = importlib.import_module(info.name)
            for _, value in inspect.getmembers(module, inspect.isclass):
                if issubclass(value, BaseException) and value.__module__ == info.name:
                    found.add(value)
    return sorted(found, key=lambda cls: cls.__qualname__)


def test_domain_exceptions_carry_no_http_status():
    exceptions = _domain_exceptions()
    assert len(exceptions) >= 10
    for exception in exceptions:
        assert not issubclass(exception, ApiError), exception
        for attribute in ("status_code", "error_type", "headers"):
            assert not hasattr(exception, attribute), (exception, attribute)


@pytest.mark.parametrize(
    ("error", "status", "error_type"),
    [
        (sources.SourceNotAllowedError("x"), 400, "source_not_allowed"),
        (sources.SourceTooLargeError("x"), 413, "payload_too_large"),
        (sources.SourceUnreachableError("x"), 400, "source_unreachable"),
        (sources.SourceError("x"), 400, "invalid_source"),
        (schema.CatalogValidationError(["row 2: x"]), 400, "invalid_catalog"),
    ],
)
def test_bad_input_is_a_4xx_that_says_what_is_wrong(error, status, error_type):
    answer = http_error(error)
    assert (answer.status_code, answer.error_type) == (status, error_type)
    assert answer.message == str(error)


@pytest.mark.parametrize(
    ("error", "dependency", "retry_after"),
    [
        (vector_store.EmbeddingMismatchError("x"), "catalog", "60"),
        (vector_store.VectorStoreUnavailableError("x"), "vector store", "5"),
        (vector_store.StoreLockedError("x"), "vector store", "5"),
        (embeddings.EmbeddingsUnavailableError("x"), "embedding model", "5"),
        (history.HistoryUnavailableError("x"), "chat history store", "5"),
        (chain.ChatModelError("x"), "chat model", "5"),
        (NotReadyError("embedding model", "x", 10), "embedding model", "10"),
    ],
)
def test_a_dependency_that_is_down_is_a_503_naming_it(error, dependency, retry_after):
    answer = http_error(error)
    assert isinstance(answer, ServiceUnavailableError)
    assert (answer.status_code, answer.dependency) == (503, dependency)
    assert answer.message == f"{dependency} is unavailable: x"
    assert answer.headers["Retry-After"] == retry_after


@pytest.mark.parametrize(
    "error",
    [vector_store.CollectionMissingError("x"), vector_store.CatalogEmptyError("x")],
)
def test_an_empty_catalog_is_a_503_of_its_own(error):
    """Nothing is down: the catalog is being restored or loaded."""
    answer = http_error(error)
    assert (answer.status_code, answer.error_type) == (503, "catalog_empty")
    assert answer.message == "catalog is empty: it is being restored or loaded"
    assert answer.headers["Retry-After"] == "10"
    assert answer.dependency == "catalog"  # type: ignore[attr-defined]


def test_every_domain_exception_that_can_reach_a_route_is_mapped():
    unmapped = [
        exception for exception in _domain_exceptions() if not issubclass(exception, DOMAIN_ERRORS)
    ]
    # Snapshots and the CLI's settings error are the CLI's alone; no route restores or
    # exports.
    assert {exception.__name__ for exception in unmapped} == {
        "InvalidSettingsError",
        "SnapshotError",
        "SnapshotMissingError",
        "VerificationError",
    }
    with pytest.raises(TypeError, match="not a domain error"):
        http_error(RuntimeError("boom"))
