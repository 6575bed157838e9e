"""The one place where domain errors become HTTP errors.

Nothing below the API layer knows about HTTP: the catalog, the vector store, the
embeddings, the history stores and the chat model raise their own exceptions.
:func:`http_error` maps each to the shared JSON error model of
:mod:`myretail_common.errors` (a dependency that is down is a 503 naming it, with
``Retry-After``); routes run their work inside :func:`domain_errors_as_http`, which also
counts the 503s by dependency. An empty catalog is a 503 of its own (type
``catalog_empty``, "catalog is empty: it is being restored or loaded"): nothing is down,
the catalog is on its way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from myretail_common.errors import (
    ApiError,
    BadRequestError,
    PayloadTooLargeError,
    ServiceUnavailableError,
)
from myretail_rag.api.components import NotReadyError
from myretail_rag.api.metrics import Metrics
from myretail_rag.catalog.embeddings import EmbeddingsUnavailableError
from myretail_rag.catalog.lease import LoadInProgressError
from myretail_rag.catalog.schema import CatalogValidationError
from myretail_rag.catalog.sources import (
    SourceError,
    SourceNotAllowedError,
    SourceTooLargeError,
    SourceUnreachableError,
)
from myretail_rag.catalog.vector_store import (
    EMPTY_CATALOG,
    CatalogEmptyError,
    EmbeddingMismatchError,
    VectorStoreError,
)
from myretail_rag.conversation.chain import ChatModelError
from myretail_rag.conversation.history import HistoryUnavailableError

ErrorFactory = Callable[[Exception], ApiError]


class CatalogEmptyHTTPError(ApiError, status_code=503, error_type="catalog_empty"):
    """503 while the catalog holds no products (a restore or a load is filling it); not
    "catalog is unavailable: ...": nothing is down."""

    dependency = "catalog"

    def __init__(self) -> None:
        super().__init__(f"catalog is {EMPTY_CATALOG}", headers={"Retry-After": "10"})


def _not_ready(exc: Exception) -> ApiError:
    assert isinstance(exc, NotReadyError)
    return ServiceUnavailableError(exc.part, exc.reason, exc.retry_in_seconds)


#: Domain error -> HTTP error; the first entry the error is an instance of wins, so
#: subclasses come before their base classes.
HTTP_ERRORS: tuple[tuple[type[Exception], ErrorFactory], ...] = (
    (
        SourceNotAllowedError,
        lambda exc: BadRequestError(str(exc), error_type="source_not_allowed"),
    ),
    (SourceTooLargeError, lambda exc: PayloadTooLargeError(str(exc))),
    (
        SourceUnreachableError,
        lambda exc: BadRequestError(str(exc), error_type="source_unreachable"),
    ),
    (SourceError, lambda exc: BadRequestError(str(exc), error_type="invalid_source")),
    (CatalogValidationError, lambda exc: BadRequestError(str(exc), error_type="invalid_catalog")),
    (CatalogEmptyError, lambda _: CatalogEmptyHTTPError()),
    (
        LoadInProgressError,
        lambda exc: ApiError(str(exc), status_code=409, error_type="conflict"),
    ),
    (EmbeddingMismatchError, lambda exc: ServiceUnavailableError("catalog", str(exc), 60)),
    (VectorStoreError, lambda exc: ServiceUnavailableError("vector store", str(exc))),
    (EmbeddingsUnavailableError, lambda exc: ServiceUnavailableError("embedding model", str(exc))),
    (HistoryUnavailableError, lambda exc: ServiceUnavailableError("chat history store", str(exc))),
    (ChatModelError, lambda exc: ServiceUnavailableError("chat model", str(exc))),
    (NotReadyError, _not_ready),
)
DOMAIN_ERRORS = tuple(error for error, _ in HTTP_ERRORS)


def http_error(exc: Exception) -> ApiError:
    """The HTTP error a domain error is answered with."""
    for error, factory in HTTP_ERRORS:
        if isinstance(exc, error):
            return factory(exc)
    raise TypeError(f"{type(exc).__name__} is not a domain error")


@contextmanager
def domain_errors_as_http(metrics: Metrics) -> Iterator[None]:
    """Raise domain errors as their HTTP errors; count each 503 by dependency."""
    try:
        yield
    except DOMAIN_ERRORS as exc:
        error = http_error(exc)
        if isinstance(error, ServiceUnavailableError | CatalogEmptyHTTPError):
            metrics.failures.labels(error.dependency).inc()
        raise error from exc
