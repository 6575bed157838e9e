"""Storage over fsspec for ``file://`` and ``s3://`` URIs (any S3-compatible endpoint).

A :class:`Storage` is rooted at a URI; every method takes a path relative to that root.
Folders are published atomically with :meth:`Storage.publish_dir`:

* ``file://`` — the folder is staged under a hidden sibling name and renamed into place,
  so it appears whole or not at all.
* ``s3://`` — objects are uploaded first and the *marker* object (``manifest.json``)
  last. A folder counts as published only once its marker exists, so a reader that asks
  :meth:`is_published` never sees a half-written folder and a crash mid-upload leaves
  nothing visible; the next publish clears the leftovers.

Versions that can be replaced in place are published with :meth:`Storage.publish_version`
(the model store's tags): each publish lands complete in a folder of its own beside the
current one, ``<path>/../.versions/<name>/<id>/`` on ``file://`` and
``<path>/.versions/<id>/`` on ``s3://``, where ``<id>`` is a digest of the marker's bytes;
then the pointer switches, in one atomic step, last:

* ``file://`` — ``<path>`` is a relative symlink to the version folder, replaced with
  ``os.replace`` (a reader sees the old folder or the new one, whole);
* ``s3://`` — the pointer is the marker object at ``<path>/<marker>`` (one PUT); readers
  find the version folder from the digest of its bytes (:meth:`published_root`).

A publisher killed midway leaves the old version in place; two publishers of one path
each point it at a complete folder of their own, never at a mix. The replaced version is
deleted after the switch.

Keys are relative to the root and may not contain ``..`` segments.

Errors are :class:`ObjectNotFoundError` (a clear "not found" naming the URI) or
:class:`StorageUnavailableError` (the store could not be reached or refused access).
Credentials are never part of a message or a log line.
"""

from __future__ import annotations

import hashlib
import logging
import os
import posixpath
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import fsspec

logger = logging.getLogger(__name__)

DEFAULT_MARKER = "manifest.json"
VERSIONS = ".versions"
STALE_STAGING_SECONDS = 3600  # a staging folder this old was left by a killed publisher


class StorageError(Exception):
    """Base class of storage errors; the message is safe to show to users."""


class ObjectNotFoundError(StorageError, FileNotFoundError):
    """The object or folder does not exist."""


class AlreadyPublishedError(StorageError, FileExistsError):
    """A folder is already published at the destination and overwriting was not asked for."""


class StorageUnavailableError(StorageError):
    """The store could not be reached, or refused the request."""


def _clean_relative(path: str) -> str:
    if ".." in path.replace("\\", "/").split("/"):
        raise ValueError(f"path {path[:200]!r} escapes the storage root (it has a '..' part)")
    cleaned = posixpath.normpath(path.strip("/")) if path.strip("/") else ""
    if cleaned in (".", ""):
        return ""
    return cleaned


def version_id(marker_bytes: bytes) -> str:
    """The name of a version folder: a digest of its marker (which lists its files)."""
    return hashlib.sha256(marker_bytes).hexdigest()[:24]


class Storage:
    """Files under one root URI, over fsspec."""

    def __init__(self, root_uri: str, **storage_options: Any) -> None:
        self.root_uri = root_uri.rstrip("/")
        protocol = fsspec.utils.get_protocol(root_uri)
        if protocol not in ("file", "local", "s3", "s3a", "memory"):
            raise ValueError(f"unsupported storage URI scheme {protocol!r} in {root_uri!r}")
        if protocol in ("file", "local"):
            storage_options = {}
            local_root = root_uri.split("://", 1)[1] if "://" in root_uri else root_uri
            local_root = str(Path(local_root).expanduser().resolve())
            self.fs = fsspec.filesystem("file")
            self._root = local_root
        else:
            if protocol in ("s3", "s3a"):
                storage_options = self._s3_options(storage_options)
            self.fs, self._root = fsspec.core.url_to_fs(root_uri, **storage_options)
            self._root = self._root.rstrip("/")
        self.is_local = protocol in ("file", "local")

    @staticmethod
    def _s3_options(options: dict[str, Any]) -> dict[str, Any]:
        options = dict(options)
        endpoint = options.pop("endpoint_url", None)
        if endpoint:
            client_kwargs = dict(options.pop("client_kwargs", {}))
            client_kwargs["endpoint_url"] = endpoint
            options["client_kwargs"] = client_kwargs
            # S3-compatible servers answer path-style requests.
            config_kwargs = dict(options.pop("config_kwargs", {}))
            config_kwargs.setdefault("s3", {"addressing_style": "path"})
            options["config_kwargs"] = config_kwargs
        # Never reuse a cached filesystem instance across different settings or forks.
        options.setdefault("skip_instance_cache", True)
        return options

    # -- paths -----------------------------------------------------------------------------

    def _full(self, path: str) -> str:
        relative = _clean_relative(path)
        return f"{self._root}/{relative}" if relative else self._root

    def uri(self, path: str = "") -> str:
        """The URI of ``path`` (for messages and manifests)."""
        relative = _clean_relative(path)
        return f"{self.root_uri}/{relative}" if relative else self.root_uri

    @contextmanager
    def _errors(self, action: str, path: str) -> Iterator[None]:
        """Turn library errors into clear storage errors naming the URI, never credentials."""
        try:
            yield
        except StorageError:
            raise
        except FileNotFoundError as exc:
            raise ObjectNotFoundError(f"{self.uri(path)} does not exist") from exc
        except PermissionError as exc:
            raise StorageUnavailableError(
                f"access denied while trying to {action} {self.uri(path)}"
            ) from exc
        except (OSError, ConnectionError, TimeoutError) as exc:
            raise StorageUnavailableError(
                f"storage unavailable while trying to {action} {self.uri(path)}: "
                f"{type(exc).__name__}"
            ) from exc
        except Exception as exc:  # botocore and aiohttp raise their own types
            raise StorageUnavailableError(
                f"storage error while trying to {action} {self.uri(path)}: {type(exc).__name__}"
            ) from exc

    # -- objects ---------------------------------------------------------------------------

    def exists(self, path: str) -> bool:
        with self._errors("check", path):
            self._invalidate()
            return bool(self.fs.exists(self._full(path)))

    def read_bytes(self, path: str) -> bytes:
        with self._errors("read", path):
            data: bytes = self.fs.cat_file(self._full(path))
            return data

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8")

    def write_bytes(self, path: str, data: bytes) -> None:
        """Write one object. Local writes go through a temporary file and a rename."""
        full = self._full(path)
        with self._errors("write", path):
            if self.is_local:
                Path(full).parent.mkdir(parents=True, exist_ok=True)
                temporary = f"{full}.tmp-{uuid.uuid4().hex}"
                Path(temporary).write_bytes(data)
                os.replace(temporary, full)
            else:
                self.fs.pipe_file(full, data)

    def write_text(self, path: str, text: str) -> None:
        self.write_bytes(path, text.encode("utf-8"))

    def list_dir(self, path: str = "") -> list[str]:
        """Names of the direct children of folder ``path`` (hidden staging names excluded)."""
        with self._errors("list", path):
            self._invalidate()
            full = self._full(path)
            if not self.fs.exists(full):
                return []
            names = [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(full, detail=False)]
            return sorted(n for n in names if n and not n.startswith("."))

    def list_files(self, path: str) -> list[str]:
        """Paths of every file under folder ``path``, relative to it."""
        with self._errors("list", path):
            self._invalidate()
            full = self._full(path)
            found = self.fs.find(full)
            return sorted(posixpath.relpath(p, full) for p in found)

    def delete(self, path: str) -> None:
        """Delete an object or a whole folder; deleting nothing is fine."""
        with self._errors("delete", path):
            full = self._full(path)
            if self.fs.exists(full):
                self.fs.rm(full, recursive=True)

    def _invalidate(self) -> None:
        # s3fs caches listings; another process may have published since.
        self.fs.invalidate_cache()

    # -- folders ---------------------------------------------------------------------------

    def download_dir(self, path: str, local_dir: Path) -> None:
        """Copy every file under ``path`` into ``local_dir`` (created)."""
        files = self.list_files(path)
        if not files:
            raise ObjectNotFoundError(f"{self.uri(path)} is empty or does not exist")
        local_dir.mkdir(parents=True, exist_ok=True)
        with self._errors("download", path):
            for relative in files:
                target = local_dir / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(f"{self._full(path)}/{relative}", str(target))

    def is_published(self, path: str, marker: str = DEFAULT_MARKER) -> bool:
        """True once a folder published with :meth:`publish_dir` is complete."""
        return self.exists(f"{_clean_relative(path)}/{marker}")

    def publish_dir(
        self,
        local_dir: Path,
        path: str,
        marker: str = DEFAULT_MARKER,
        overwrite: bool = False,
    ) -> str:
        """Publish ``local_dir`` at ``path`` atomically; returns the destination URI.

        ``local_dir`` must contain ``marker``; it is written last. An already published
        destination raises :class:`AlreadyPublishedError` unless ``overwrite``.
        """
        local_dir = Path(local_dir)
        relative = self._check_publish(local_dir, path, marker, overwrite)
        if self.is_local:
            self._publish_local(local_dir, relative)
        else:
            self._publish_remote(local_dir, relative, marker)
        logger.info("published folder", extra={"destination": self.uri(relative)})
        return self.uri(relative)

    def _check_publish(self, local_dir: Path, path: str, marker: str, overwrite: bool) -> str:
        """The cleaned destination of a publish, after checking it may happen."""
        if not (local_dir / marker).is_file():
            raise ValueError(f"{local_dir} has no {marker}: nothing marks it complete")
        relative = _clean_relative(path)
        if not relative:
            raise ValueError("cannot publish at the storage root")
        if self.is_published(relative, marker) and not overwrite:
            raise AlreadyPublishedError(f"{self.uri(relative)} is already published")
        return relative

    def _publish_local(self, local_dir: Path, relative: str) -> None:
        final = Path(self._full(relative))
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.parent / f".staging-{final.name}-{uuid.uuid4().hex}"
        with self._errors("publish", relative):
            shutil.copytree(local_dir, staging)
            if final.exists():
                trash = final.parent / f".trash-{final.name}-{uuid.uuid4().hex}"
                os.rename(final, trash)
                os.rename(staging, final)
                shutil.rmtree(trash, ignore_errors=True)
            else:
                os.rename(staging, final)

    def _publish_remote(self, local_dir: Path, relative: str, marker: str) -> None:
        full = self._full(relative)
        files = _relative_files(local_dir)
        with self._errors("publish", relative):
            # Hide the old version first (marker), then clear it and any crashed leftovers.
            if self.fs.exists(f"{full}/{marker}"):
                self.fs.rm(f"{full}/{marker}")
            self._invalidate()
            if self.fs.exists(full):
                self.fs.rm(full, recursive=True)
            for name in files:
                if name != marker:
                    self.fs.put_file(str(local_dir / name), f"{full}/{name}")
            self.fs.put_file(str(local_dir / marker), f"{full}/{marker}")

    # -- versions (replaceable in place) ----------------------------------------------------

    def publish_version(
        self,
        local_dir: Path,
        path: str,
        marker: str = DEFAULT_MARKER,
        overwrite: bool = False,
    ) -> str:
        """Publish ``local_dir`` at ``path`` as a new version beside the current one and
        switch ``path`` to it last (see the module docstring); returns the URI.

        Raises :class:`AlreadyPublishedError` when ``path`` is published and not
        ``overwrite`` (also when another publisher got there first).
        """
        local_dir = Path(local_dir)
        relative = self._check_publish(local_dir, path, marker, overwrite)
        version = version_id((local_dir / marker).read_bytes())
        with self._errors("publish", relative):
            if self.is_local:
                replaced = self._switch_local(local_dir, relative, version, overwrite)
            else:
                replaced = self._switch_remote(local_dir, relative, marker, version, overwrite)
        logger.info(
            "published version",
            extra={"destination": self.uri(relative), "version": version, "replaced": replaced},
        )
        return self.uri(relative)

    def published_root(self, path: str, marker: str = DEFAULT_MARKER) -> str:
        """Where the files of the version published at ``path`` are, relative to the root:
        a folder that stays as it is while later publishes switch ``path`` elsewhere."""
        relative = _clean_relative(path)
        with self._errors("resolve", relative):
            if self.is_local:
                full = Path(self._full(relative))
                if not full.is_symlink():
                    return relative  # published before versions, or by publish_dir
                target = (full.parent / os.readlink(full)).resolve()
                return posixpath.relpath(target.as_posix(), self._root)
            version = version_id(self.fs.cat_file(self._full(f"{relative}/{marker}")))
            candidate = f"{relative}/{VERSIONS}/{version}"
            self._invalidate()
            return candidate if self.fs.exists(self._full(f"{candidate}/{marker}")) else relative

    def download_files(self, path: str, names: list[str], local_dir: Path) -> None:
        """Copy the named files under ``path`` into ``local_dir`` (created)."""
        local_dir.mkdir(parents=True, exist_ok=True)
        with self._errors("download", path):
            for name in names:
                target = local_dir / _clean_relative(name)
                target.parent.mkdir(parents=True, exist_ok=True)
                self.fs.get_file(self._full(f"{path}/{name}"), str(target))

    def _switch_local(
        self, local_dir: Path, relative: str, version: str, overwrite: bool
    ) -> str | None:
        """Copy into a version folder, then point the ``relative`` symlink at it; returns
        the version it replaced."""
        final = Path(self._full(relative))
        versions = final.parent / VERSIONS / final.name
        versions.mkdir(parents=True, exist_ok=True)
        _drop_stale_staging(versions)
        folder = versions / version
        if not folder.is_dir():  # the same version again: already complete (renamed in whole)
            staging = versions / f".staging-{uuid.uuid4().hex}"
            shutil.copytree(local_dir, staging)
            try:
                os.rename(staging, folder)
            except OSError:  # an identical publish renamed its copy first
                shutil.rmtree(staging, ignore_errors=True)
        link_target = posixpath.join(VERSIONS, final.name, version)
        if not overwrite:
            try:
                os.symlink(link_target, final)  # fails if the path exists: one winner
            except FileExistsError as exc:
                if not final.is_symlink() or os.readlink(final) != link_target:
                    shutil.rmtree(folder, ignore_errors=True)  # ours, and pointed at by nothing
                raise AlreadyPublishedError(f"{self.uri(relative)} is already published") from exc
            return None
        previous = os.readlink(final) if final.is_symlink() else None
        if final.exists() and not final.is_symlink():
            # Published before versions existed: a real folder cannot be swapped for a link
            # in one step, so it is moved aside first (the one moment without the path).
            previous = posixpath.join(VERSIONS, final.name, f"unversioned-{uuid.uuid4().hex}")
            os.rename(final, final.parent / previous)
        temporary = final.parent / f".link-{final.name}-{uuid.uuid4().hex}"
        os.symlink(link_target, temporary)
        os.replace(temporary, final)
        if previous and previous != link_target:
            shutil.rmtree(final.parent / previous, ignore_errors=True)
        return previous

    def _switch_remote(
        self, local_dir: Path, relative: str, marker: str, version: str, overwrite: bool
    ) -> str | None:
        """Upload a version folder, then write the pointer (the marker at ``relative``);
        returns the version it replaced."""
        full = self._full(relative)
        folder = f"{full}/{VERSIONS}/{version}"
        for name in _relative_files(local_dir):
            if name != marker:
                self.fs.put_file(str(local_dir / name), f"{folder}/{name}")
        self.fs.put_file(str(local_dir / marker), f"{folder}/{marker}")  # the version is whole
        mine = f"{relative}/{VERSIONS}/{version}"
        previous = (
            self.published_root(relative, marker) if self.is_published(relative, marker) else None
        )
        if previous is not None and not overwrite:  # another publisher got there first
            if previous != mine:
                self.fs.rm(folder, recursive=True)
            raise AlreadyPublishedError(f"{self.uri(relative)} is already published")
        self.fs.put_file(str(local_dir / marker), f"{full}/{marker}")  # the switch
        self._invalidate()
        if previous == relative:  # published before versions: its files lie beside the pointer
            for name in self.list_files(relative):
                if name != marker and not name.startswith(f"{VERSIONS}/"):
                    self.fs.rm(f"{full}/{name}")
        elif previous is not None and previous != mine:
            self.fs.rm(self._full(previous), recursive=True)
        return previous


def _relative_files(folder: Path) -> list[str]:
    """Every file under ``folder``, as sorted POSIX paths relative to it."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _drop_stale_staging(versions: Path) -> None:
    """Remove staging folders a killed publisher left behind (old ones only: a young one
    may be another publisher's copy in progress)."""
    for staging in versions.glob(".staging-*"):
        try:
            if time.time() - staging.stat().st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError:
            continue
