"""``POST /load_data``: load a catalog CSV from a URL (seed shape; admin token when set)."""

from __future__ import annotations

import hmac
import logging

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from myretail_common.errors import (
    ApiError,
    BadRequestError,
    ErrorResponse,
    ServiceUnavailableError,
    UnauthorizedError,
)
from myretail_rag.assistant import vector_store_error
from myretail_rag.catalog import CatalogValidationError
from myretail_rag.components import Components
from myretail_rag.embeddings import EmbeddingsUnavailableError
from myretail_rag.ingest import (
    SourceError,
    SourcePolicy,
    describe_source,
    load_catalog,
    read_source,
)
from myretail_rag.vector_store import VectorStoreError

logger = logging.getLogger(__name__)
router = APIRouter(tags=["catalog"])
bearer = HTTPBearer(auto_error=False, description="ADMIN_TOKEN, when the service sets one")


class LoadDataRequest(BaseModel):
    url: str = Field(
        min_length=1,
        max_length=2048,
        description="Catalog CSV: http(s)://, s3:// or file:// as LOAD_ALLOWED_SCHEMES allows",
        examples=["https://example.com/catalog.csv"],
    )


class LoadDataResponse(BaseModel):
    status: str = "loaded"
    products: int
    collection: str
    seconds: float
    source: str


def require_admin(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
) -> None:
    components: Components = request.app.state.components
    token = components.settings.admin_token
    if token is None:
        return
    supplied = credentials.credentials if credentials else ""
    if not hmac.compare_digest(supplied.encode(), token.get_secret_value().encode()):
        raise UnauthorizedError()


@router.post(
    "/load_data",
    response_model=LoadDataResponse,
    summary="Load (replace) the product catalog from a CSV URL",
    dependencies=[Depends(require_admin)],
    responses={
        401: {"model": ErrorResponse, "description": "Admin token missing or wrong"},
        409: {"model": ErrorResponse, "description": "A load is already running"},
        413: {"model": ErrorResponse, "description": "The CSV is larger than LOAD_MAX_BYTES"},
    },
)
async def load_data(body: LoadDataRequest, request: Request) -> LoadDataResponse:
    components: Components = request.app.state.components
    settings = components.settings
    if not components.load_lock.acquire(blocking=False):
        raise ApiError("a catalog load is already running", status_code=409, error_type="conflict")
    try:
        store, embeddings = components.require_loader()
        policy = SourcePolicy.for_api(settings)
        try:
            data = await run_in_threadpool(read_source, body.url, policy, settings)
            result = await run_in_threadpool(
                load_catalog, data, store, embeddings, source=body.url, settings=settings
            )
        except SourceError as exc:
            raise ApiError(
                str(exc), status_code=exc.status_code, error_type=exc.error_type
            ) from exc
        except CatalogValidationError as exc:
            raise BadRequestError(str(exc), error_type="invalid_catalog") from exc
        except VectorStoreError as exc:
            raise vector_store_error(exc) from exc
        except EmbeddingsUnavailableError as exc:
            raise ServiceUnavailableError("embedding model", str(exc)) from exc
    except ApiError as exc:
        components.metrics.loads.labels("failed").inc()
        if isinstance(exc, ServiceUnavailableError):
            components.metrics.failures.labels(exc.dependency).inc()
        raise
    finally:
        components.load_lock.release()
    components.metrics.loads.labels("loaded").inc()
    components.metrics.products.set(result.products)
    return LoadDataResponse(
        products=result.products,
        collection=result.collection,
        seconds=round(result.seconds, 2),
        source=describe_source(body.url),
    )
