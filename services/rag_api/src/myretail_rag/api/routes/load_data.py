"""``POST /load_data``: load a catalog CSV from a URL (the book's v0 shape; admin token
when set). The catalog lease is taken first, so a second load, on this replica or another,
is a 409 before anything is downloaded."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from myretail_common.errors import ApiError, ErrorResponse
from myretail_rag.api.dependencies import ComponentsDep, require_admin
from myretail_rag.api.errors import domain_errors_as_http
from myretail_rag.api.schemas import LoadDataRequest, LoadDataResponse
from myretail_rag.catalog.lease import CatalogLease
from myretail_rag.catalog.loading import load_catalog
from myretail_rag.catalog.sources import SourcePolicy, describe_source, read_source

router = APIRouter(tags=["catalog"])


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
async def load_data(body: LoadDataRequest, components: ComponentsDep) -> LoadDataResponse:
    settings = components.settings
    metrics = components.metrics
    try:
        with domain_errors_as_http(metrics):
            store, embeddings = components.require_loader()
            lease = CatalogLease(store, settings.load_lease_seconds)
            await run_in_threadpool(lease.acquire)
            try:
                policy = SourcePolicy.for_api(settings)
                data = await run_in_threadpool(read_source, body.url, policy, settings)
                result = await run_in_threadpool(
                    load_catalog,
                    data,
                    store,
                    embeddings,
                    source=body.url,
                    settings=settings,
                    lease=lease,
                )
            finally:
                await run_in_threadpool(lease.release)
    except ApiError:
        metrics.loads.labels("failed").inc()
        raise
    metrics.loads.labels("loaded").inc()
    components.catalog_loaded(result.products)
    return LoadDataResponse(
        products=result.products,
        collection=result.collection,
        seconds=round(result.seconds, 2),
        source=describe_source(body.url),
    )
