"""The model store: published model tags under one storage root.

Layout (see DESIGN.md): ``<root>/<model-name>/<tag>/`` holds adapter (or full model)
files, tokenizer files and ``manifest.json``. The manifest is written last and lists
every file with its size and sha256, so a tag is visible only once complete and a
download can be verified. Tags are immutable unless a publish is explicitly forced.

Each publish is a version of its own beside the current one, and the tag is switched to it
last (:meth:`myretail_common.storage.Storage.publish_version`): a forced republish that
dies midway leaves the previous version in place, and two publishers of one tag leave it
pointing at one complete version, never at a mix whose files fail the manifest. A download
reads the manifest and the files from that one version.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from myretail_common.settings import CommonSettings
from myretail_common.storage import (
    AlreadyPublishedError,
    ObjectNotFoundError,
    Storage,
    StorageError,
)

logger = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
DOWNLOAD_ATTEMPTS = 2  # a republish may delete the version a download was reading


class TagNotFoundError(ObjectNotFoundError):
    """The requested model tag is not published."""


class TagExistsError(AlreadyPublishedError):
    """The tag is already published; tags are immutable unless forced."""


class ManifestMismatchError(ObjectNotFoundError):
    """Downloaded files differ from the manifest (size or sha256): a corrupt or partial copy."""


class BaseModelMismatchError(StorageError):
    """The tag was trained on another base model than the one being served."""


def validate_name(kind: str, value: str) -> str:
    """Model names and tags: letters, digits, '.', '_' and '-', at most 128 characters,
    without '..' (the whole value must match: no trailing newline)."""
    if not _NAME_PATTERN.fullmatch(value or "") or ".." in value:
        raise ValueError(
            f"invalid {kind} {value[:140]!r}: use letters, digits, '.', '_' or '-' "
            "(at most 128 characters, starting with a letter or digit, no '..')"
        )
    return value


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe_files(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and sha256 of every file in ``folder`` except the manifest."""
    files: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME:
            relative = path.relative_to(folder).as_posix()
            files[relative] = {"size": path.stat().st_size, "sha256": sha256_file(path)}
    return files


class ModelStore:
    """Publish, list and fetch model tags."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> ModelStore:
        return cls(Storage(settings.store_uri(), **settings.storage_options()))

    @staticmethod
    def tag_path(model: str, tag: str) -> str:
        return f"{validate_name('model name', model)}/{validate_name('tag', tag)}"

    def tag_uri(self, model: str, tag: str) -> str:
        return self.storage.uri(self.tag_path(model, tag))

    def list_models(self) -> list[str]:
        return self.storage.list_dir("")

    def list_tags(self, model: str) -> list[str]:
        """Published (complete) tags of ``model``."""
        validate_name("model name", model)
        return [
            tag
            for tag in self.storage.list_dir(model)
            if self.storage.is_published(f"{model}/{tag}", MANIFEST_NAME)
        ]

    def has_tag(self, model: str, tag: str) -> bool:
        return self.storage.is_published(self.tag_path(model, tag), MANIFEST_NAME)

    def read_manifest(self, model: str, tag: str) -> dict[str, Any]:
        path = f"{self.tag_path(model, tag)}/{MANIFEST_NAME}"
        try:
            manifest: dict[str, Any] = json.loads(self.storage.read_text(path))
        except ObjectNotFoundError as exc:
            raise TagNotFoundError(self._missing_message(model, tag)) from exc
        return manifest

    def _missing_message(self, model: str, tag: str) -> str:
        try:
            known = self.list_tags(model)
        except Exception:  # listing is only a hint for the message
            known = []
        hint = f"; published tags: {', '.join(known)}" if known else "; no tags are published"
        return f"model tag {model}:{tag} not found at {self.tag_uri(model, tag)}{hint}"

    def publish(
        self,
        local_dir: Path,
        model: str,
        tag: str,
        manifest: dict[str, Any],
        force: bool = False,
    ) -> dict[str, Any]:
        """Publish ``local_dir`` as ``model:tag`` with ``manifest`` (files are added).

        Returns the manifest as published. Raises :class:`TagExistsError` when the tag
        exists and ``force`` is false.
        """
        local_dir = Path(local_dir)
        path = self.tag_path(model, tag)
        if not force and self.has_tag(model, tag):
            raise TagExistsError(
                f"model tag {model}:{tag} already exists at {self.tag_uri(model, tag)}; "
                "tags are immutable: choose a new tag (or force an overwrite)"
            )
        complete = {
            **manifest,
            "model_name": model,
            "tag": tag,
            "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "files": describe_files(local_dir),
        }
        (local_dir / MANIFEST_NAME).write_text(json.dumps(complete, indent=2, sort_keys=True))
        try:
            self.storage.publish_version(local_dir, path, MANIFEST_NAME, overwrite=force)
        except AlreadyPublishedError as exc:  # lost a race with another publisher
            raise TagExistsError(str(exc)) from exc
        return complete

    def fetch(self, model: str, tag: str, cache_dir: Path) -> Path:
        """Return a local folder holding ``model:tag``, downloading it into ``cache_dir``.

        A cached copy is reused when it matches the published manifest; downloads land
        in a staging folder and are verified before they are renamed into place.
        """
        return self._fetch(model, tag, Path(cache_dir) / model / tag)

    def fetch_into(self, model: str, tag: str, target: Path, base_model: str | None = None) -> Path:
        """Copy ``model:tag`` into the folder ``target`` itself, every file's sha256 checked.

        With ``base_model``, the manifest must name that base (else
        :class:`BaseModelMismatchError`, before anything is downloaded). A ``target``
        already holding this version (every checksum right) is left as it is; otherwise
        the files land in a staging folder beside it and replace it only once verified,
        so ``target`` never holds a partial or corrupt copy.
        """
        return self._fetch(model, tag, Path(target), base_model, check_cached_hashes=True)

    def _fetch(
        self,
        model: str,
        tag: str,
        target: Path,
        base_model: str | None = None,
        check_cached_hashes: bool = False,
    ) -> Path:
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            root, manifest = self._published_version(model, tag)
            if base_model is not None:
                check_base_model(manifest, base_model, f"{model}:{tag}")
            if target.is_dir() and not file_mismatches(target, manifest, check_cached_hashes):
                logger.info("model tag found in cache", extra={"path": str(target)})
                return target
            try:
                self._download(root, manifest, target)
                break
            except ObjectNotFoundError:
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise
                logger.info("the tag was republished while downloading; downloading again")
        logger.info("model tag downloaded", extra={"source": self.tag_uri(model, tag)})
        return target

    def _published_version(self, model: str, tag: str) -> tuple[str, dict[str, Any]]:
        """(where the current version's files are, its manifest), read from that version."""
        path = self.tag_path(model, tag)
        try:
            root = self.storage.published_root(path, MANIFEST_NAME)
            manifest: dict[str, Any] = json.loads(self.storage.read_text(f"{root}/{MANIFEST_NAME}"))
        except ObjectNotFoundError as exc:
            raise TagNotFoundError(self._missing_message(model, tag)) from exc
        return root, manifest

    def _download(self, root: str, manifest: dict[str, Any], target: Path) -> None:
        """The manifest's files (and the manifest) from ``root``, verified, at ``target``."""
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".download-{target.name}-{uuid.uuid4().hex}"
        try:
            names = [*manifest.get("files", {}), MANIFEST_NAME]
            self.storage.download_files(root, names, staging)
            problems = file_mismatches(staging, manifest, check_hashes=True)
            if problems:
                shown = "; ".join(problems[:3]) + ("; ..." if len(problems) > 3 else "")
                raise ManifestMismatchError(
                    f"{self.storage.uri(root)} does not match its manifest ({shown}); "
                    f"nothing was written to {target}"
                )
            if target.exists():
                shutil.rmtree(target)
            staging.rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)


def check_base_model(manifest: dict[str, Any], expected: str, what: str) -> None:
    """Raise :class:`BaseModelMismatchError` unless the manifest's base model is ``expected``."""
    recorded = str(manifest.get("base_model") or "")
    if recorded != expected:
        raise BaseModelMismatchError(
            f"{what} was trained on base model {recorded or '(none recorded)'!r}, but the "
            f"base model being served is {expected!r}: publish an adapter for that base, or "
            "serve the base it was trained on"
        )


def file_mismatches(
    folder: Path, manifest: dict[str, Any], check_hashes: bool = False
) -> list[str]:
    """What differs between ``folder`` and ``manifest``: one line per problem (none: a match).

    The folder's own manifest must list the same files; each file must have the recorded
    size (and, with ``check_hashes``, sha256).
    """
    try:
        local = json.loads((folder / MANIFEST_NAME).read_text())
    except (OSError, ValueError):
        return [f"{MANIFEST_NAME} is missing or unreadable"]
    if local.get("files") != manifest.get("files"):
        return [f"{MANIFEST_NAME} lists other files than the published one"]
    problems: list[str] = []
    for name, meta in manifest.get("files", {}).items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif path.stat().st_size != meta["size"]:
            problems.append(f"{name} has {path.stat().st_size} bytes, expected {meta['size']}")
        elif check_hashes and (actual := sha256_file(path)) != meta["sha256"]:
            expected = str(meta["sha256"])
            problems.append(f"{name} has sha256 {actual[:12]}..., expected {expected[:12]}...")
    return problems
