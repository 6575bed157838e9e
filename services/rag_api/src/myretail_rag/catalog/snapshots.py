"""Catalog snapshots: a portable format any Qdrant can restore, and native Qdrant ones.

One naming rule tells them apart, in the code, the chart's defaults, the docs and
``ci/kind-e2e.sh``: **a URI ending in ``.snapshot`` is a native Qdrant snapshot file; any
other URI is a portable snapshot folder** (``s3://<bucket>/catalog/latest``,
``file:///store/catalog/latest``). Restores read by that rule, and exporting the portable
format to a ``.snapshot`` URI is refused.

Portable snapshot (``myretail-catalog export --to URI``, from the live catalog or straight
from a CSV with ``--from-csv``): a folder, published atomically through
:class:`myretail_common.storage.Storage` (``file://``, a path, or ``s3://``):

```
<uri>/manifest.json          written last: the folder is complete once it exists
<uri>/points-00000.jsonl.gz  up to 1,000 points per part, one JSON object per line:
                             {"id": "<uuid>", "vector": "<base64 float32 LE>",
                              "payload": {"page_content": ..., "metadata": {...}}}
```

``manifest.json`` holds ``format`` (``myretail-catalog-snapshot``), ``version`` (1),
``embedding_model``, ``embedding_dimension``, ``distance``, ``points``, ``facets``, the
parts with their point counts and SHA-256, and ``digest`` (over the parts). Vectors are
stored bit-exactly, so a restored catalog answers exactly like the exported one.

Restore (``myretail-catalog restore --from URI``, the restore Job): checks the manifest
against the configured embeddings, writes the points in batches into the physical
collection ``<alias>--restore-<digest>`` (re-running after a crash continues into the
same collection; upserts by point id are idempotent), verifies the point count and the
embedding metadata, then moves the alias and drops the previous collection. If the
alias already serves that snapshot, nothing is done. A snapshot that does not exist is
:class:`SnapshotMissingError` (the CLI's ``--if-missing skip`` turns it into a message).

A restore never replaces a newer catalog (the restore Job runs on every ``helm upgrade``,
and a catalog loaded through ``/load_data`` since the last export must survive it): with
``replace="if-newer"`` (the default) it fills an empty catalog, or replaces one whose
``catalog_version`` is older than the snapshot's; otherwise it keeps the live catalog and
says why (:class:`RestoreDecision`, logged). ``replace="always"`` is the operator's way to
roll back on purpose. The snapshot's manifest records the exported catalog's version, and
the restored collection takes it over, so restoring an export of the live catalog is "not
newer". Restores hold the catalog lease like loads do.

A native Qdrant ``.snapshot`` (from Qdrant's own snapshot API, as the book's original
version used) is restored with Qdrant's snapshot-recover API; that needs a single Qdrant
server. It records no version, so it fills only an empty catalog unless ``replace="always"``.
On a Qdrant cluster a native snapshot is one node's shards of a collection, so native
recovery is refused there: portable snapshots are the supported path for clusters (their
restore creates the collection with the configured shards and replication, like a load).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from myretail_common.storage import ObjectNotFoundError, Storage, StorageError
from myretail_rag.catalog.embeddings import EmbeddingIdentity, EmbeddingModel
from myretail_rag.catalog.lease import CatalogLease, held_lease
from myretail_rag.catalog.loading import (
    Progress,
    drop_quietly,
    drop_stale,
    load_products,
    switch_under_lease,
)
from myretail_rag.catalog.schema import Product
from myretail_rag.catalog.sources import describe_source
from myretail_rag.catalog.vector_store import (
    CONTENT_KEY,
    METADATA_KEY,
    CatalogStore,
    EmbeddingMismatchError,
    VectorStoreError,
    models,
)
from myretail_rag.settings import RagSettings

logger = logging.getLogger(__name__)

FORMAT = "myretail-catalog-snapshot"
VERSION = 1
MANIFEST = "manifest.json"
POINTS_PER_PART = 1000
NATIVE_SUFFIX = ".snapshot"
Replace = Literal["if-newer", "always"]


class SnapshotError(Exception):
    """The snapshot is missing, malformed, or does not fit the configured catalog."""


class SnapshotMissingError(SnapshotError):
    """Nothing is published at the snapshot URI (a first install, before any export)."""


class VerificationError(SnapshotError):
    """The restored collection does not match the snapshot."""


def is_native_snapshot(uri: str) -> bool:
    """The naming rule: a URI (or path) ending in ``.snapshot`` names a native Qdrant
    snapshot file; anything else a portable snapshot folder."""
    return urlsplit(uri.strip()).path.rstrip("/").endswith(NATIVE_SUFFIX)


def check_portable_uri(uri: str) -> None:
    """Refuse a portable export to a URI that the naming rule reads as a native snapshot
    (a restore from it would hand the folder to Qdrant's snapshot API)."""
    if is_native_snapshot(uri):
        folder = describe_source(uri).rstrip("/").removesuffix(NATIVE_SUFFIX)
        raise SnapshotError(
            f"{describe_source(uri)} ends in {NATIVE_SUFFIX}, which names a native Qdrant "
            f"snapshot file, but myretail-catalog export writes a portable snapshot folder: "
            f"give it a URI that does not end in {NATIVE_SUFFIX} (for example {folder}), "
            f"and restore from that same URI"
        )


def encode_vector(vector: list[float]) -> str:
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def decode_vector(text: str, dimension: int) -> list[float]:
    array = np.frombuffer(base64.b64decode(text), dtype="<f4")
    if array.shape != (dimension,):
        raise SnapshotError(f"a vector has {array.size} dimensions, expected {dimension}")
    values: list[float] = array.tolist()
    return values


def split_uri(uri: str) -> tuple[str, str]:
    """(parent URI, last name) of a snapshot URI or path."""
    cleaned = uri.strip().rstrip("/")
    if "://" not in cleaned:
        path = Path(cleaned).expanduser().resolve()
        return f"file://{path.parent}", path.name
    parent, _, name = cleaned.rpartition("/")
    if not name or parent.endswith(":/") or parent.endswith(":"):
        raise SnapshotError(f"{uri!r} names no snapshot folder")
    return parent, name


def _storage(parent: str, settings: RagSettings) -> Storage:
    try:
        return Storage(parent, **settings.storage_options())
    except ValueError as exc:
        raise SnapshotError(str(exc)) from exc


# -- export ---------------------------------------------------------------------------------


@dataclass
class ExportResult:
    uri: str
    points: int
    seconds: float


def export_snapshot(
    store: CatalogStore, uri: str, settings: RagSettings, progress: Progress | None = None
) -> ExportResult:
    """Write the live catalog as a portable snapshot at ``uri``."""
    check_portable_uri(uri)
    started = time.perf_counter()
    live = store.live_collection()
    if live is None:
        raise SnapshotError(f"there is no catalog to export in {store.location}")
    metadata = store.metadata(live)
    model = metadata.get("embedding_model")
    dimension = metadata.get("embedding_dimension")
    if not model or not dimension:
        raise SnapshotError(f"collection {live!r} records no embedding model; load it again")
    total = store.count(live)
    parent, name = split_uri(uri)
    storage = _storage(parent, settings)
    parts: list[dict[str, Any]] = []
    written = 0
    with tempfile.TemporaryDirectory(prefix="catalog-snapshot-") as folder:
        local = Path(folder)
        lines: list[str] = []

        def flush() -> None:
            if not lines:
                return
            part = f"points-{len(parts):05d}.jsonl.gz"
            data = gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0)
            (local / part).write_bytes(data)
            parts.append(
                {"file": part, "points": len(lines), "sha256": hashlib.sha256(data).hexdigest()}
            )
            lines.clear()

        for page in store.scroll(live, batch_size=256, with_vectors=True):
            for record in page:
                vector: Any = record.vector
                if isinstance(vector, dict):
                    vector = vector.get("") or next(iter(vector.values()))
                lines.append(
                    json.dumps(
                        {
                            "id": str(record.id),
                            "vector": encode_vector(list(vector or [])),  # type: ignore[arg-type]
                            "payload": record.payload or {},
                        },
                        ensure_ascii=False,
                        sort_keys=True,
                    )
                )
                if len(lines) >= POINTS_PER_PART:
                    flush()
            written += len(page)
            if progress:
                progress(written, total, time.perf_counter() - started)
        flush()
        digest = hashlib.sha256(
            "".join(part["sha256"] for part in parts).encode("ascii")
        ).hexdigest()
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "collection": store.alias,
            "embedding_model": model,
            "embedding_dimension": dimension,
            "distance": metadata.get("distance", "Dot"),
            "normalized": bool(metadata.get("normalized", True)),
            "points": written,
            "catalog_version": metadata.get("catalog_version") or metadata.get("loaded_at"),
            "facets": metadata.get("facets") or {},
            "source": metadata.get("source"),
            "digest": digest,
            "parts": parts,
        }
        (local / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
        try:
            destination = storage.publish_dir(local, name, marker=MANIFEST, overwrite=True)
        except (StorageError, ValueError) as exc:
            raise SnapshotError(f"could not write the snapshot: {exc}") from exc
    if written != total:
        raise SnapshotError(f"exported {written} points but the collection holds {total}")
    seconds = time.perf_counter() - started
    logger.info("catalog exported", extra={"uri": destination, "points": written})
    return ExportResult(destination, written, seconds)


def export_products(
    products: list[Product],
    embeddings: EmbeddingModel,
    uri: str,
    settings: RagSettings,
    *,
    source: str,
    batch_size: int = 256,
    progress: Progress | None = None,
    export_progress: Progress | None = None,
) -> ExportResult:
    """Embed ``products`` into a temporary in-memory Qdrant and write them as a portable
    snapshot at ``uri``: the first catalog of an install, made without any Qdrant server.
    The snapshot is the same as a load followed by an export."""
    check_portable_uri(uri)
    store = CatalogStore.in_memory(settings.qdrant_collection, embeddings.identity)
    try:
        load_products(
            products, store, embeddings, source=source, batch_size=batch_size, progress=progress
        )
        return export_snapshot(store, uri, settings, progress=export_progress)
    finally:
        store.close()


# -- restore --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreDecision:
    """Whether a restore replaces the live catalog, and why (logged and printed)."""

    restore: bool
    reason: str


@dataclass
class RestoreResult:
    collection: str
    points: int
    seconds: float
    already_current: bool = False
    kept: RestoreDecision | None = None  # set when the live catalog was kept


def _version(value: Any) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def decide_restore(store: CatalogStore, snapshot_version: Any, replace: Replace) -> RestoreDecision:
    """Restore into an empty catalog, or over an older one; keep a newer or unknown one."""
    if replace == "always":
        return RestoreDecision(True, "asked to replace the live catalog whatever its version")
    live = store.live_collection()
    if live is None or store.count(live) == 0:
        return RestoreDecision(True, "the catalog is empty")
    metadata = store.metadata(live)
    live_version = _version(metadata.get("catalog_version") or metadata.get("loaded_at"))
    version = _version(snapshot_version)
    if live_version is None:
        return RestoreDecision(False, f"the live catalog ({live}) records no version to compare")
    if version is None:
        return RestoreDecision(False, "the snapshot records no version to compare")
    shown = f"snapshot {version.isoformat()}, live catalog {live_version.isoformat()}"
    if version > live_version:
        return RestoreDecision(True, f"the snapshot is newer ({shown})")
    return RestoreDecision(False, f"the live catalog is as new or newer ({shown})")


def _kept(store: CatalogStore, decision: RestoreDecision, started: float) -> RestoreResult:
    """The result of a restore that kept the live catalog."""
    live = store.live_collection() or store.alias
    return RestoreResult(live, store.count(live), time.perf_counter() - started, kept=decision)


def _log_decision(decision: RestoreDecision, uri: str) -> None:
    logger.info(
        "restore decision",
        extra={
            "restore": decision.restore,
            "reason": decision.reason,
            "snapshot": describe_source(uri),
        },
    )


def read_manifest(storage: Storage, name: str) -> dict[str, Any]:
    """The manifest of a published snapshot; :class:`SnapshotMissingError` when there is
    none (storage that cannot be read raises its own :class:`StorageError`)."""
    try:
        manifest = json.loads(storage.read_text(f"{name}/{MANIFEST}"))
    except ObjectNotFoundError as exc:
        raise SnapshotMissingError(
            f"no portable snapshot at {storage.uri(name)} ({exc}); is the export complete?"
        ) from exc
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"{storage.uri(name)}/{MANIFEST} is not valid JSON") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise SnapshotError(f"{storage.uri(name)} is not a {FORMAT}")
    if manifest.get("version") != VERSION:
        raise SnapshotError(
            f"snapshot version {manifest.get('version')} is not supported (expected {VERSION})"
        )
    for key in ("embedding_model", "embedding_dimension", "points", "digest", "parts"):
        if key not in manifest:
            raise SnapshotError(f"{storage.uri(name)}/{MANIFEST} lacks {key!r}")
    return manifest


def check_identity(manifest: dict[str, Any], identity: EmbeddingIdentity) -> None:
    if (manifest["embedding_model"], manifest["embedding_dimension"]) != (
        identity.model,
        identity.dimension,
    ):
        raise EmbeddingMismatchError(
            f"the snapshot was made with {manifest['embedding_model']} "
            f"({manifest['embedding_dimension']} dimensions) but the catalog is configured for "
            f"{identity.describe()}: restore a matching snapshot or change EMBEDDINGS_PROVIDER"
        )


def _points(
    storage: Storage, name: str, manifest: dict[str, Any]
) -> Iterator[tuple[int, list[models.PointStruct]]]:
    dimension = int(manifest["embedding_dimension"])
    for part in manifest["parts"]:
        data = storage.read_bytes(f"{name}/{part['file']}")
        if hashlib.sha256(data).hexdigest() != part["sha256"]:
            raise SnapshotError(f"{part['file']} is corrupt (SHA-256 differs from the manifest)")
        points = []
        for line in gzip.decompress(data).decode("utf-8").splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            payload = item.get("payload") or {}
            if CONTENT_KEY not in payload or METADATA_KEY not in payload:
                raise SnapshotError(f"{part['file']} has a point without content or metadata")
            points.append(
                models.PointStruct(
                    id=item["id"], vector=decode_vector(item["vector"], dimension), payload=payload
                )
            )
        if len(points) != part["points"]:
            raise SnapshotError(f"{part['file']} holds {len(points)} points, not {part['points']}")
        yield part["points"], points


def restore_snapshot(
    store: CatalogStore,
    uri: str,
    settings: RagSettings,
    *,
    batch_size: int = 256,
    progress: Progress | None = None,
    replace: Replace = "if-newer",
    lease: CatalogLease | None = None,
) -> RestoreResult:
    """Restore a portable snapshot into the configured Qdrant (see the module docstring)."""
    started = time.perf_counter()
    parent, name = split_uri(uri)
    storage = _storage(parent, settings)
    manifest = read_manifest(storage, name)
    check_identity(manifest, store.identity)
    expected = int(manifest["points"])
    digest = str(manifest["digest"])
    target = store.new_collection_name("restore", digest[:16])

    live = store.live_collection()
    if live == target:
        metadata = store.metadata(target)
        if metadata.get("state") == "ready" and store.count(target) == expected:
            logger.info("snapshot already restored", extra={"collection": target})
            return RestoreResult(target, expected, time.perf_counter() - started, True)

    with held_lease(store, lease) as held:
        version = manifest.get("catalog_version") or manifest.get("created_at")
        decision = decide_restore(store, version, replace)
        _log_decision(decision, uri)
        if not decision.restore:
            return _kept(store, decision, started)
        _fill(store, storage, name, manifest, target, held, batch_size, progress, started)
        verify(store, target, expected)
        store.update_metadata(
            target,
            {
                "state": "ready",
                "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "catalog_version": version,
            },
        )
        try:
            switch_under_lease(store, target, held)
        except BaseException:
            drop_quietly(store, target)
            raise
        drop_stale(store, keep=[target], lease=held)
    seconds = time.perf_counter() - started
    logger.info("snapshot restored", extra={"collection": target, "points": expected})
    return RestoreResult(target, expected, seconds)


def _fill(
    store: CatalogStore,
    storage: Storage,
    name: str,
    manifest: dict[str, Any],
    target: str,
    lease: CatalogLease,
    batch_size: int,
    progress: Progress | None,
    started: float,
) -> None:
    """Write the snapshot's points into ``target`` (created, or continued after a crash)."""
    expected = int(manifest["points"])
    digest = str(manifest["digest"])
    if store.collection_exists(target):
        metadata = store.metadata(target)
        if metadata.get("digest") != digest or metadata.get("embedding_model") != (
            store.identity.model
        ):
            store.delete_collection(target)
    if not store.collection_exists(target):
        store.create_collection(
            target,
            {
                "source": manifest.get("source"),
                "restored_from": storage.uri(name).split("?")[0],
                "digest": digest,
                "products": expected,
                "facets": manifest.get("facets") or {},
                "lease": lease.generation,
            },
        )
    else:
        store.update_metadata(target, {"lease": lease.generation})
        logger.info("continuing an unfinished restore", extra={"collection": target})
    done = 0
    try:
        for _, points in _points(storage, name, manifest):
            for start in range(0, len(points), batch_size):
                batch = points[start : start + batch_size]
                store.upsert(target, batch)
                done += len(batch)
                if progress:
                    progress(done, expected, time.perf_counter() - started)
    except StorageError as exc:
        raise SnapshotError(f"could not read the snapshot: {exc}") from exc


def verify(store: CatalogStore, collection: str, expected: int) -> None:
    """The collection holds exactly ``expected`` points and our embeddings' metadata."""
    count = store.count(collection)
    if count != expected:
        raise VerificationError(
            f"collection {collection} holds {count} points; the snapshot has {expected}"
        )
    try:
        store.check_compatible(collection)
    except EmbeddingMismatchError as exc:
        raise VerificationError(str(exc)) from exc


# -- native Qdrant snapshots ----------------------------------------------------------------


def native_location(uri: str, settings: RagSettings) -> str | None:
    """The URL Qdrant fetches a native snapshot from: http(s) as is, ``s3://`` presigned
    (:class:`SnapshotMissingError` if there is no such object); None for a local file (it
    is uploaded instead)."""
    scheme = urlsplit(uri).scheme
    if scheme in ("http", "https"):
        return uri
    if scheme == "s3":
        import boto3
        from botocore.config import Config

        parent, name = split_uri(uri)
        if not _storage(parent, settings).exists(name):
            raise SnapshotMissingError(f"no native snapshot at {describe_source(uri)}")
        parts = urlsplit(uri)
        options = settings.storage_options()
        client = boto3.client(
            "s3",
            endpoint_url=options.get("endpoint_url"),  # type: ignore[arg-type]
            aws_access_key_id=options.get("key"),  # type: ignore[arg-type]
            aws_secret_access_key=options.get("secret"),  # type: ignore[arg-type]
            region_name=settings.aws_region,
            config=Config(s3={"addressing_style": "path"}) if options.get("endpoint_url") else None,
        )
        url: str = client.generate_presigned_url(
            "get_object",
            Params={"Bucket": parts.netloc, "Key": parts.path.lstrip("/")},
            ExpiresIn=3600,
        )
        return url
    return None


def recover_native(
    store: CatalogStore,
    uri: str,
    settings: RagSettings,
    *,
    replace: Replace = "if-newer",
    lease: CatalogLease | None = None,
) -> RestoreResult:
    """Recover a native ``.snapshot`` into a new collection on a Qdrant server (Qdrant's
    snapshot-recover API, as the book's original version did), verify it, then move the alias.
    A native snapshot records no version: it fills only an empty catalog unless ``always``."""
    if store.embedded:
        raise SnapshotError(
            "native Qdrant .snapshot files need a Qdrant server (set QDRANT_ENDPOINT); "
            "embedded Qdrant restores portable snapshots (myretail-catalog export)"
        )
    started = time.perf_counter()
    target = store.new_collection_name("native")
    location = native_location(uri, settings)
    if location is None:
        _local_snapshot(uri)  # a missing file is reported before anything is taken
    _refuse_on_a_cluster(store)
    with held_lease(store, lease) as held:
        decision = decide_restore(store, None, replace)
        _log_decision(decision, uri)
        if not decision.restore:
            return _kept(store, decision, started)
        try:
            points = _recover_into(store, target, uri, location, settings)
            switch_under_lease(store, target, held)
        except BaseException:
            drop_quietly(store, target)
            raise
    return RestoreResult(target, points, time.perf_counter() - started)


def _refuse_on_a_cluster(store: CatalogStore) -> None:
    """Refuse native recovery on a Qdrant cluster: a native snapshot holds the shards that
    one node had, and a recovery goes to whichever peer answers, so the collection it makes
    could lack shards (or ignore the replication settings) and still go live. Portable
    snapshots are written through the cluster like a load, with the configured layout."""
    answer = store.call("read the cluster status", store.client.http.distributed_api.cluster_status)
    peers = getattr(answer.result, "peers", None) or {}
    if len(peers) > 1:
        raise SnapshotError(
            f"{store.location} is a cluster of {len(peers)} Qdrant peers, and a native "
            ".snapshot file holds one node's shards: restore a portable snapshot instead "
            "(myretail-catalog export --to URI where the catalog is whole, then "
            "myretail-catalog restore --from URI)"
        )


def _recover_into(
    store: CatalogStore, target: str, uri: str, location: str | None, settings: RagSettings
) -> int:
    """Have Qdrant recover the snapshot as ``target``, verified and marked ready; its points."""
    if location is not None:
        store.call(
            "recover a snapshot",
            lambda: store.client.recover_snapshot(
                target,
                location=location,
                priority=models.SnapshotPriority.SNAPSHOT,
                wait=True,
            ),
        )
    else:
        _upload_snapshot(uri, target, settings)
    if not store.collection_exists(target):
        raise VerificationError(f"Qdrant did not create {target} from {describe_source(uri)}")
    points = store.count(target)
    if points == 0:
        raise VerificationError(f"the recovered collection {target} is empty")
    try:
        store.check_compatible(target)
    except EmbeddingMismatchError as exc:
        raise VerificationError(str(exc)) from exc
    store.update_metadata(
        target,
        {
            "state": "ready",
            "restored_from": uri.split("?")[0],
            "loaded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
    )
    return points


def _local_snapshot(path_or_uri: str) -> Path:
    """The local ``.snapshot`` file a path or ``file://`` URI names; it must exist."""
    path = Path(urlsplit(path_or_uri).path if "://" in path_or_uri else path_or_uri)
    if not path.is_file():
        raise SnapshotMissingError(f"no native snapshot at {path}: it does not exist")
    return path


def _upload_snapshot(path_or_uri: str, collection: str, settings: RagSettings) -> None:
    """Upload a local ``.snapshot`` file to the server's snapshot upload endpoint."""
    import httpx

    path = _local_snapshot(path_or_uri)
    assert settings.qdrant_endpoint
    headers = {}
    if settings.qdrant_api_key:
        headers["api-key"] = settings.qdrant_api_key.get_secret_value()
    url = f"{settings.qdrant_endpoint.rstrip('/')}/collections/{collection}/snapshots/upload"
    with path.open("rb") as handle:
        try:
            response = httpx.post(
                url,
                params={"priority": "snapshot", "wait": "true"},
                files={"snapshot": (path.name, handle, "application/octet-stream")},
                headers=headers,
                timeout=max(60.0, settings.qdrant_timeout_seconds),
            )
        except httpx.HTTPError as exc:
            raise VectorStoreError(
                f"Qdrant at {settings.qdrant_endpoint} did not take the upload: "
                f"{type(exc).__name__}"
            ) from exc
    if response.status_code >= 400:
        raise VectorStoreError(
            f"Qdrant at {settings.qdrant_endpoint} refused the snapshot upload "
            f"(HTTP {response.status_code})"
        )
