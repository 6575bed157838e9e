"""The catalog in Qdrant: client factory, collections with metadata, aliases, searches.

Layout. The service reads the collection name it is configured with (``catalog``) as a
Qdrant *alias*; the points live in a physical collection ``catalog--<suffix>``. A load or
a restore fills a new physical collection, checks it, then moves the alias in one step
and drops the old one, so readers see the old catalog or the new one, never half of one.

Every physical collection records in its Qdrant metadata the embedding model and
dimension that made its vectors (plus distance, product count, facets and state). A
service whose embeddings differ refuses the collection with :class:`EmbeddingMismatchError`
instead of returning meaningless neighbours. Payload indexes (keyword: category,
subcategory, gender, age_group; float: price) serve filtered searches on a Qdrant server.

On a Qdrant cluster every new physical collection gets the layout of the settings
(:class:`CollectionLayout`: shards, copies of each shard, copies a write must reach).
Creating, dropping and aliasing collections are Raft operations there, applied in one order
by every peer, so the alias switch stays one atomic step for the whole cluster.

Errors are translated at this boundary: :class:`VectorStoreUnavailableError` (Qdrant
down, names where), :class:`CollectionMissingError` (nothing loaded yet). An empty catalog
is a state (:meth:`CatalogStore.catalog_state`), not an outage: a first install restores
or loads it while the service already runs.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import httpx
from langchain_core.documents import Document
from langchain_qdrant import QdrantVectorStore, RetrievalMode
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from myretail_rag.catalog.embeddings import EmbeddingIdentity, EmbeddingModel
from myretail_rag.catalog.taxonomy import FACET_FIELDS
from myretail_rag.settings import RagSettings

logger = logging.getLogger(__name__)

CONTENT_KEY = QdrantVectorStore.CONTENT_KEY
METADATA_KEY = QdrantVectorStore.METADATA_KEY
SCHEMA_VERSION = 1
DISTANCE = models.Distance.DOT  # vectors are unit length: dot product == cosine similarity
KEYWORD_INDEXES = FACET_FIELDS
FLOAT_INDEXES = ("price", "rating")
SEPARATOR = "--"
LEASE_INFIX = ".lease-"  # "<alias>.lease-<n>": the load lease (myretail_rag.catalog.lease)
VERIFY_SECONDS = 5.0  # how long a successful check of the live collection is trusted

T = TypeVar("T")


class VectorStoreError(Exception):
    """Base class; messages are safe to show (no API keys)."""


class VectorStoreUnavailableError(VectorStoreError):
    """Qdrant did not answer or refused the request."""


#: How an empty catalog is described (``/readyz``: "catalog": "<this>"; ``/generate``:
#: "catalog is <this>").
EMPTY_CATALOG = "empty: it is being restored or loaded"


class CatalogEmptyError(VectorStoreError):
    """The catalog holds no products yet: a restore or a load has not filled it."""


class CollectionMissingError(CatalogEmptyError):
    """The catalog collection does not exist (nothing loaded or restored yet)."""


class EmbeddingMismatchError(VectorStoreError):
    """The collection's vectors come from another embedding model or have another size."""


class StoreLockedError(VectorStoreError):
    """An embedded Qdrant folder is open in another process."""


def create_client(settings: RagSettings) -> QdrantClient:
    """A Qdrant client: the server at ``QDRANT_ENDPOINT``, else embedded at ``QDRANT_PATH``."""
    if settings.qdrant_endpoint:
        api_key = settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
        return QdrantClient(
            url=settings.qdrant_endpoint,
            api_key=api_key,
            timeout=max(1, round(settings.qdrant_timeout_seconds)),
            check_compatibility=False,  # no request at construction: Qdrant may be down
            prefer_grpc=False,
        )
    from pathlib import Path

    Path(settings.qdrant_path).mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=settings.qdrant_path)
    except RuntimeError as exc:
        if "already accessed" in str(exc):
            raise StoreLockedError(
                f"embedded Qdrant at {settings.qdrant_path} is open in another process "
                "(the RAG API or another myretail-catalog run): stop it first, or use a "
                "Qdrant server (QDRANT_ENDPOINT)"
            ) from exc
        raise


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class CatalogState:
    """What the live catalog holds: its products (0: empty) and when it was loaded or
    restored (None: unknown or empty)."""

    products: int
    loaded_at: datetime | None = None

    def describe(self) -> str:
        return f"{self.products} products" if self.products else EMPTY_CATALOG


@dataclass
class Hit:
    """One search result: the product's metadata, its point id and its similarity."""

    point_id: str
    metadata: dict[str, Any]
    content: str
    score: float

    def to_document(self) -> Document:
        return Document(
            page_content=self.content,
            metadata={**self.metadata, "_id": self.point_id, "score": self.score},
            id=self.point_id,
        )


@dataclass(frozen=True)
class CollectionLayout:
    """How a new collection lies on a Qdrant cluster. ``None`` is not sent, so Qdrant's
    default applies: one shard per node, and the replication and write consistency the
    server is configured with (1 and 1 unless set; the chart sets them on a cluster).
    Embedded Qdrant has one node and ignores all three."""

    shard_number: int | None = None
    replication_factor: int | None = None
    write_consistency_factor: int | None = None

    @classmethod
    def from_settings(cls, settings: RagSettings) -> CollectionLayout:
        return cls(
            shard_number=settings.qdrant_shard_number,
            replication_factor=settings.qdrant_replication_factor,
            write_consistency_factor=settings.qdrant_write_consistency_factor,
        )


class CatalogStore:
    """The catalog collection in one Qdrant (server or embedded)."""

    def __init__(
        self,
        client: QdrantClient,
        alias: str,
        identity: EmbeddingIdentity,
        location: str,
        *,
        embedded: bool,
        layout: CollectionLayout | None = None,
    ) -> None:
        self.client = client
        self.alias = alias
        self.identity = identity
        self.location = location
        self.embedded = embedded
        self.layout = layout or CollectionLayout()
        # Embedded Qdrant is plain Python state: one caller at a time.
        self._lock: contextlib.AbstractContextManager[Any] = (
            threading.RLock() if embedded else contextlib.nullcontext()
        )
        self._verified: tuple[str, dict[str, Any], float] | None = None

    @classmethod
    def from_settings(cls, settings: RagSettings, identity: EmbeddingIdentity) -> CatalogStore:
        return cls(
            create_client(settings),
            settings.qdrant_collection,
            identity,
            settings.qdrant_location(),
            embedded=not settings.qdrant_endpoint,
            layout=CollectionLayout.from_settings(settings),
        )

    @classmethod
    def in_memory(cls, alias: str, identity: EmbeddingIdentity) -> CatalogStore:
        """A throwaway embedded Qdrant held in this process's memory (gone on close)."""
        return cls(
            QdrantClient(location=":memory:"),
            alias,
            identity,
            "a temporary in-memory Qdrant",
            embedded=True,
        )

    @property
    def indexed_filters(self) -> bool:
        """Whether Qdrant filters are served by payload indexes (server) or a Python scan."""
        return not self.embedded

    # -- error translation -----------------------------------------------------------------

    def call(self, action: str, function: Callable[[], T]) -> T:
        """Run a client call; connection problems become :class:`VectorStoreUnavailableError`."""
        try:
            with self._lock:
                return function()
        except VectorStoreError:
            raise
        except UnexpectedResponse as exc:
            if exc.status_code == 404:
                raise CollectionMissingError(
                    f"collection {self.alias!r} does not exist in {self.location}: "
                    "load the catalog first"
                ) from exc
            if exc.status_code in (401, 403):
                raise VectorStoreUnavailableError(
                    f"{self.location} refused the request to {action} (check QDRANT_API_KEY)"
                ) from exc
            raise VectorStoreUnavailableError(
                f"{self.location} answered HTTP {exc.status_code} to {action}"
            ) from exc
        except (ResponseHandlingException, httpx.HTTPError, ConnectionError, TimeoutError) as exc:
            raise VectorStoreUnavailableError(
                f"{self.location} did not answer ({action}): {_reason(exc)}"
            ) from exc
        except ValueError as exc:
            if "not found" in str(exc).lower():
                raise CollectionMissingError(
                    f"collection {self.alias!r} does not exist in {self.location}: "
                    "load the catalog first"
                ) from exc
            raise

    # -- collections and aliases -----------------------------------------------------------

    def live_collection(self) -> str | None:
        """The physical collection behind the alias (or a plain collection of that name)."""

        def resolve() -> str | None:
            for alias in self.client.get_aliases().aliases:
                if alias.alias_name == self.alias:
                    return alias.collection_name
            if self.client.collection_exists(self.alias):
                return self.alias
            return None

        return self.call("resolve the catalog alias", resolve)

    def _live_or_none(self) -> str | None:
        """The live collection, or None when Qdrant cannot tell right now."""
        try:
            return self.live_collection()
        except VectorStoreError:
            return None

    def collections(self, include_leases: bool = False) -> list[str]:
        """Every collection in this Qdrant; the catalog's load leases only if asked."""
        names = self.call(
            "list collections",
            lambda: [c.name for c in self.client.get_collections().collections],
        )
        lease = f"{self.alias}{LEASE_INFIX}"
        return [name for name in names if include_leases or not name.startswith(lease)]

    def collection_exists(self, name: str) -> bool:
        return self.call("check a collection", lambda: self.client.collection_exists(name))

    def metadata(self, name: str | None = None) -> dict[str, Any]:
        target = name or self.alias
        info = self.call("read the collection", lambda: self.client.get_collection(target))
        return dict(info.config.metadata or {})

    def new_collection_name(self, kind: str, suffix: str | None = None) -> str:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        return f"{self.alias}{SEPARATOR}{kind}-{suffix or stamp + '-' + uuid.uuid4().hex[:6]}"

    def create_collection(self, name: str, extra: dict[str, Any] | None = None) -> None:
        """An empty collection for this store's embeddings, with metadata and indexes."""
        metadata = {
            "myretail": "catalog",
            "schema_version": SCHEMA_VERSION,
            "embedding_model": self.identity.model,
            "embedding_dimension": self.identity.dimension,
            "distance": DISTANCE.value,
            "normalized": True,
            "state": "building",
            "created_at": _now(),
            **(extra or {}),
        }

        def create() -> None:
            self.client.create_collection(
                name,
                vectors_config=models.VectorParams(size=self.identity.dimension, distance=DISTANCE),
                shard_number=self.layout.shard_number,
                replication_factor=self.layout.replication_factor,
                write_consistency_factor=self.layout.write_consistency_factor,
                metadata=metadata,
            )
            if not self.embedded:  # embedded Qdrant ignores payload indexes (and warns)
                for key in KEYWORD_INDEXES:
                    self.client.create_payload_index(
                        name, f"{METADATA_KEY}.{key}", models.PayloadSchemaType.KEYWORD
                    )
                for key in FLOAT_INDEXES:
                    self.client.create_payload_index(
                        name, f"{METADATA_KEY}.{key}", models.PayloadSchemaType.FLOAT
                    )

        self.call("create a collection", create)
        logger.info("collection created", extra={"collection": name})

    def update_metadata(self, name: str, metadata: dict[str, Any]) -> None:
        self.call(
            "update collection metadata",
            lambda: self.client.update_collection(name, metadata=metadata),
        )

    def delete_collection(self, name: str) -> None:
        self.call("delete a collection", lambda: self.client.delete_collection(name))
        logger.info("collection deleted", extra={"collection": name})

    def switch_alias(self, new_collection: str) -> str | None:
        """Point the alias at ``new_collection``; returns the collection it pointed at."""
        old = self.live_collection()

        def switch() -> None:
            operations: list[Any] = []
            if old is not None and old != self.alias:
                operations.append(
                    models.DeleteAliasOperation(
                        delete_alias=models.DeleteAlias(alias_name=self.alias)
                    )
                )
            elif old == self.alias:
                # A plain collection holds the name (deployments from the book's original
                # manifests, native snapshots): it has to go before the alias can take its
                # place.
                self.client.delete_collection(self.alias)
            operations.append(
                models.CreateAliasOperation(
                    create_alias=models.CreateAlias(
                        collection_name=new_collection, alias_name=self.alias
                    )
                )
            )
            self.client.update_collection_aliases(change_aliases_operations=operations)

        try:
            self.call("switch the catalog alias", switch)
        except VectorStoreError:
            # The request may have been applied with its answer lost (a timeout): then the
            # switch happened, and the new collection is live.
            if self._live_or_none() != new_collection:
                raise
            logger.warning("the alias switch went through although its answer was lost")
        self._verified = None
        logger.info(
            "catalog alias switched",
            extra={"alias": self.alias, "collection": new_collection, "previous": old},
        )
        return None if old == self.alias else old

    def stale_collections(self, keep: Sequence[str]) -> list[str]:
        """Physical collections of this catalog that nothing points at any more."""
        prefix = f"{self.alias}{SEPARATOR}"
        return [name for name in self.collections() if name.startswith(prefix) and name not in keep]

    # -- checks ----------------------------------------------------------------------------

    def check_compatible(self, name: str | None = None) -> dict[str, Any]:
        """The collection's metadata (default: the live one), or an error when its
        embeddings differ from ours. The live collection's check is cached for
        ``VERIFY_SECONDS`` (an alias moved by another process is noticed within that)."""
        if name is None and self._verified is not None:
            _, metadata, checked = self._verified
            if time.monotonic() - checked < VERIFY_SECONDS:
                return metadata
        target = name or self.live_collection()
        if target is None:
            raise CollectionMissingError(
                f"collection {self.alias!r} does not exist in {self.location}: "
                "load the catalog first"
            )
        info = self.call("read the collection", lambda: self.client.get_collection(target))
        metadata = dict(info.config.metadata or {})
        vectors = info.config.params.vectors
        size = vectors.size if isinstance(vectors, models.VectorParams) else None
        model = metadata.get("embedding_model")
        dimension = metadata.get("embedding_dimension")
        if model is None or dimension is None:
            raise EmbeddingMismatchError(
                f"collection {target!r} records no embedding model, so its vectors cannot be "
                f"checked against {self.identity.describe()}: load the catalog again "
                "with myretail-catalog"
            )
        if (
            model != self.identity.model
            or dimension != self.identity.dimension
            or (size is not None and size != self.identity.dimension)
        ):
            raise EmbeddingMismatchError(
                f"collection {target!r} was built with {model} ({dimension} dimensions) but "
                f"this service embeds with {self.identity.describe()}: load the catalog "
                "again, or set EMBEDDINGS_PROVIDER/EMBEDDINGS_MODEL to match"
            )
        if name is None:
            self._verified = (target, metadata, time.monotonic())
        return metadata

    def catalog_state(self) -> CatalogState:
        """How many products the live catalog holds (0 when nothing is loaded or restored
        yet) and when it was loaded. Qdrant down or a catalog built with other embeddings
        still raise: the service cannot serve then."""
        try:
            metadata = self.check_compatible()
            products = self.count()
        except CollectionMissingError:
            return CatalogState(0)
        if not products:
            return CatalogState(0)
        return CatalogState(products, _parse_time(metadata.get("loaded_at")))

    def count(self, name: str | None = None) -> int:
        target = name or self.alias
        result = self.call("count points", lambda: self.client.count(target, exact=True))
        return int(result.count)

    # -- points ----------------------------------------------------------------------------

    def upsert(self, name: str, points: list[models.PointStruct]) -> None:
        self.call("write points", lambda: self.client.upsert(name, points=points, wait=True))

    def scroll(
        self, name: str, batch_size: int = 256, with_vectors: bool = True
    ) -> Iterator[list[models.Record]]:
        """Every point of a collection, in pages, in id order."""
        offset: Any = None
        while True:

            def read(start: Any = offset) -> tuple[list[models.Record], Any]:
                return self.client.scroll(
                    name,
                    limit=batch_size,
                    offset=start,
                    with_payload=True,
                    with_vectors=with_vectors,
                )

            page, offset = self.call("read points", read)
            if page:
                yield page
            if offset is None:
                break

    def retrieve(self, point_ids: Sequence[str]) -> list[Hit]:
        """Products by point id, in the order asked (missing ones are left out)."""
        records = self.call(
            "read points",
            lambda: self.client.retrieve(self.alias, ids=list(point_ids), with_payload=True),
        )
        by_id = {str(record.id): record for record in records}
        hits = []
        for point in point_ids:
            record = by_id.get(str(point))
            if record is None:
                continue
            payload = record.payload or {}
            hits.append(
                Hit(
                    str(record.id),
                    dict(payload.get(METADATA_KEY) or {}),
                    str(payload.get(CONTENT_KEY) or ""),
                    0.0,
                )
            )
        return hits

    def langchain_store(self, embeddings: EmbeddingModel) -> QdrantVectorStore:
        """The LangChain vector store over the alias (no request made here)."""
        return QdrantVectorStore(
            client=self.client,
            collection_name=self.alias,
            embedding=embeddings.embeddings,
            retrieval_mode=RetrievalMode.DENSE,
            distance=DISTANCE,
            validate_collection_config=False,
        )

    def search(
        self,
        store: QdrantVectorStore,
        vector: list[float],
        limit: int,
        query_filter: models.Filter | None = None,
    ) -> list[Hit]:
        """Nearest products to ``vector`` through langchain-qdrant."""
        found = self.call(
            "search the catalog",
            lambda: store.similarity_search_with_score_by_vector(
                vector, k=limit, filter=query_filter
            ),
        )
        hits = []
        for document, score in found:
            metadata = dict(document.metadata)
            point = str(metadata.pop("_id", document.id))
            metadata.pop("_collection_name", None)
            hits.append(Hit(point, metadata, document.page_content, float(score)))
        return hits

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()


def _reason(exc: BaseException) -> str:
    """A short reason without URLs' credentials: the innermost exception's class and text."""
    inner: BaseException = exc
    while inner.__cause__ is not None or inner.__context__ is not None:
        nxt = inner.__cause__ or inner.__context__
        assert nxt is not None
        inner = nxt
    text = str(inner).split("\n")[0][:200]
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


def make_point(point_id: str, vector: list[float], content: str, metadata: dict[str, Any]) -> Any:
    return models.PointStruct(
        id=point_id, vector=vector, payload={CONTENT_KEY: content, METADATA_KEY: metadata}
    )
