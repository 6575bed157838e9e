"""One catalog load at a time, across every replica and Job: a lease kept in Qdrant itself.

Several RAG replicas (and the restore Job, and an operator's ``myretail-catalog``) share one
Qdrant, so a process lock cannot keep two loads apart. The lease lives where the catalog
lives, as small marker collections ``<alias>.lease-<generation>`` whose metadata say who
holds it and until when:

* **taking** it means creating the collection of the next generation, which Qdrant does
  for exactly one caller (creating a collection that exists fails). The next generation
  may be taken only when the newest one is released or expired;
* **holding** it: a background thread renews the expiry every third of ``ttl_seconds``,
  so only a holder that died (or froze) loses it;
* before a load makes its result live it **verifies** that its generation is still the
  newest, so a holder that froze past its expiry and was taken over stops there;
* **releasing** marks the generation released; generations below the newest are deleted
  by the next holder. Generations only grow, so a late caller acting on an old listing
  creates a generation below the newest and backs off.

A second caller gets :class:`LoadInProgressError` (the API answers 409) or, from the CLI,
waits for the lease up to a limit.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

from qdrant_client.http.exceptions import UnexpectedResponse

from myretail_rag.catalog.vector_store import (
    LEASE_INFIX,
    CatalogStore,
    VectorStoreError,
    models,
)

logger = logging.getLogger(__name__)


DEFAULT_LEASE_SECONDS = 60.0


class LoadInProgressError(VectorStoreError):
    """Another process holds the catalog lease: a load or restore is running."""


class LeaseLostError(LoadInProgressError):
    """This process's lease expired and another process took it: its load must stop."""


def lease_prefix(alias: str) -> str:
    return f"{alias}{LEASE_INFIX}"


def default_holder() -> str:
    """Who holds a lease, for messages: the pod (host) name, the process and a nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class _Generation:
    number: int
    holder: str
    expires_at: datetime
    released: bool

    def free(self, now: datetime) -> bool:
        return self.released or self.expires_at <= now


class CatalogLease:
    """``with CatalogLease(store, 60).acquire():`` around anything that changes the catalog."""

    def __init__(
        self,
        store: CatalogStore,
        ttl_seconds: float = DEFAULT_LEASE_SECONDS,
        *,
        wait_seconds: float = 0.0,
        holder: str | None = None,
    ) -> None:
        self.store = store
        self.ttl = timedelta(seconds=ttl_seconds)
        self.wait_seconds = wait_seconds
        self.holder = holder or default_holder()
        self.generation: int | None = None
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None

    # -- names and state -------------------------------------------------------------------

    def _name(self, number: int) -> str:
        return f"{lease_prefix(self.store.alias)}{number:010d}"

    def _numbers(self) -> list[int]:
        prefix = lease_prefix(self.store.alias)
        return sorted(
            int(name[len(prefix) :])
            for name in self.store.collections(include_leases=True)
            if name.startswith(prefix) and name[len(prefix) :].isdigit()
        )

    def _read(self, number: int) -> _Generation | None:
        try:
            metadata = self.store.metadata(self._name(number))
        except VectorStoreError:  # deleted meanwhile
            return None
        try:
            expires = datetime.fromisoformat(str(metadata.get("expires_at")))
        except ValueError:
            expires = datetime.min.replace(tzinfo=UTC)
        return _Generation(
            number, str(metadata.get("holder", "?")), expires, bool(metadata.get("released"))
        )

    # -- taking and giving back ------------------------------------------------------------

    @property
    def held(self) -> bool:
        return self.generation is not None

    def acquire(self, poll_seconds: float = 2.0) -> CatalogLease:
        """Take the lease, waiting up to ``wait_seconds`` for its holder to finish;
        :class:`LoadInProgressError` when it stays taken."""
        deadline = time.monotonic() + self.wait_seconds
        waiting = False
        while True:
            try:
                self._take()
            except LoadInProgressError as exc:
                if time.monotonic() + poll_seconds > deadline:
                    raise
                if not waiting:
                    logger.warning(
                        "waiting for the catalog lease",
                        extra={"reason": str(exc), "wait_seconds": self.wait_seconds},
                    )
                    waiting = True
                time.sleep(poll_seconds)
                continue
            self._start_renewing()
            return self

    def _take(self) -> None:
        numbers = self._numbers()
        newest = self._read(numbers[-1]) if numbers else None
        now = datetime.now(UTC)
        if newest is not None and not newest.free(now):
            raise LoadInProgressError(
                f"a catalog load is already running ({newest.holder}, lease until "
                f"{newest.expires_at.isoformat(timespec='seconds')}); try again when it is done"
            )
        number = (numbers[-1] if numbers else 0) + 1
        if not self._create(number):
            raise LoadInProgressError("another process started a catalog load just now")
        if self._numbers()[-1] != number:  # acted on an old listing: a newer one exists
            self._drop(number)
            raise LoadInProgressError("another process started a catalog load just now")
        self.generation = number
        for older in (n for n in numbers if n < number):
            self._drop(older)
        logger.info("catalog lease taken", extra={"holder": self.holder, "generation": number})

    def _create(self, number: int) -> bool:
        """Create generation ``number``; False when it exists (someone else took it)."""
        metadata = {
            "myretail": "catalog-lease",
            "holder": self.holder,
            "released": False,
            **self._times(),
        }

        def create() -> bool:
            try:
                self.store.client.create_collection(
                    self._name(number),
                    vectors_config=models.VectorParams(size=1, distance=models.Distance.DOT),
                    metadata=metadata,
                )
            except (ValueError, UnexpectedResponse) as exc:
                if "already exists" in str(exc):
                    return False
                raise
            return True

        return self.store.call("take the catalog lease", create)

    def _times(self) -> dict[str, str]:
        now = datetime.now(UTC)
        return {
            "renewed_at": now.isoformat(timespec="milliseconds"),
            "expires_at": (now + self.ttl).isoformat(timespec="milliseconds"),
        }

    def _drop(self, number: int) -> None:
        name = self._name(number)
        try:
            self.store.call("drop an old lease", lambda: self.store.client.delete_collection(name))
        except VectorStoreError:  # a leftover generation is harmless: the next holder drops it
            logger.info("could not drop an old catalog lease", extra={"generation": number})

    def verify(self) -> None:
        """Raise :class:`LeaseLostError` unless this lease is still the newest generation."""
        if self.generation is None:
            raise LeaseLostError("this process holds no catalog lease")
        numbers = self._numbers()
        current = self._read(self.generation)
        if not numbers or numbers[-1] != self.generation or current is None:
            raise LeaseLostError(
                "this catalog load lost its lease (it stalled past the lease's expiry and "
                "another process took over); nothing was changed"
            )

    def release(self) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join(timeout=10)
        if self.generation is None:
            return
        try:
            self.store.update_metadata(self._name(self.generation), {"released": True})
            logger.info("catalog lease released", extra={"generation": self.generation})
        except VectorStoreError:  # it expires by itself
            logger.warning("could not release the catalog lease; it expires by itself")
        self.generation = None

    # -- renewing --------------------------------------------------------------------------

    def _start_renewing(self) -> None:
        self._stop.clear()
        self._renewer = threading.Thread(target=self._renew, name="catalog-lease", daemon=True)
        self._renewer.start()

    def _renew(self) -> None:
        interval = self.ttl.total_seconds() / 3
        while not self._stop.wait(interval):
            generation = self.generation
            if generation is None:
                return
            try:
                self.store.update_metadata(self._name(generation), self._times())
            except VectorStoreError as exc:  # Qdrant down for a moment: try again next time
                logger.warning("could not renew the catalog lease", extra={"reason": str(exc)})

    # -- context manager -------------------------------------------------------------------

    def __enter__(self) -> CatalogLease:
        if not self.held:
            self.acquire()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> Any:
        self.release()
        return None


@contextmanager
def held_lease(store: CatalogStore, lease: CatalogLease | None) -> Iterator[CatalogLease]:
    """``lease`` while it is held: as it is when the caller holds it, else taken here (a
    new one, without waiting, when None) and released after."""
    if lease is not None and lease.held:
        yield lease
        return
    with lease or CatalogLease(store) as own:
        yield own
