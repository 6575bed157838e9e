"""Publishing a trained result as ``<store>/<model-name>/<tag>/`` with its manifest.

The folder holds the PEFT adapter (``adapter_config.json``, ``adapter_model.safetensors``)
or, for method ``full``, the full model weights, plus the tokenizer files and
``manifest.json``. ``ModelStore.publish`` adds ``model_name``, ``tag``, ``published_at``
and the file list with sizes and sha256s, and publishes atomically: readers never see a
half-published tag, and an existing tag is never overwritten unless forced.
See the README for every manifest field.

``run_fingerprint`` names a run by everything that decides its result (base model,
datasets' contents, profile, method, hyper-parameters, name and tag). A Job retried after
it published finds its own fingerprint in the tag's manifest and succeeds without
training again; a different run that names the same tag is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myretail_common.model_store import ModelStore
from myretail_common.model_store import TagExistsError as StoreTagExists
from myretail_common.storage import Storage, StorageError
from myretail_finetune import __version__
from myretail_finetune.config import FinetuneSettings, HyperParameters
from myretail_finetune.data import QADataset
from myretail_finetune.errors import ConfigError, StoreError, TagExistsError

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
PROMPT_FORMAT = "myretail_common.prompt.build_prompt (### Question / ### Answer), EOS-terminated"


def open_store(store_uri: str, storage_options: dict[str, Any]) -> ModelStore:
    try:
        return ModelStore(Storage(store_uri, **storage_options))
    except ValueError as exc:
        raise ConfigError(f"model store {store_uri!r}: {exc}") from exc


@dataclass(frozen=True)
class PublishedRun:
    """What one run publishes: the tag in the store and the run's fingerprint."""

    store: ModelStore
    settings: FinetuneSettings
    tag: str
    fingerprint: str

    @property
    def model_name(self) -> str:
        return self.settings.model_name

    @property
    def tag_uri(self) -> str:
        return self.store.tag_uri(self.model_name, self.tag)


def run_fingerprint(
    settings: FinetuneSettings, hp: HyperParameters, train: QADataset, val: QADataset
) -> str:
    """A digest of everything that decides a run's result (not where it writes)."""
    identity = {
        "base_model": settings.base_model_spec(),
        "profile": settings.profile,
        "method": settings.method,
        "model": settings.model_name,
        "tag": settings.tag(),
        "train": train.sha256,
        "eval": val.sha256,
        "hyper_parameters": hp.as_dict(),
        "min_eval_accuracy": settings.min_eval_accuracy,
    }
    text = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def tag_exists(store: ModelStore, model: str, tag: str) -> bool:
    try:
        return store.has_tag(model, tag)
    except StorageError as exc:
        raise StoreError(f"model store unreachable: {exc}") from exc


def find_published_run(run: PublishedRun) -> dict[str, Any] | None:
    """The manifest when the tag already holds this run (a retry); None when forced.

    Raises :class:`TagExistsError` when another run published the tag.
    """
    if run.settings.force_publish:
        return None
    try:
        manifest = run.store.read_manifest(run.model_name, run.tag)
    except StorageError as exc:
        raise StoreError(f"cannot read the manifest of {run.tag_uri}: {exc}") from exc
    if manifest.get("run_fingerprint") == run.fingerprint:
        logger.info("tag already published by this run", extra={"tag_uri": run.tag_uri})
        return manifest
    raise TagExistsError(
        f"model tag {run.model_name}:{run.tag} already exists at {run.tag_uri}, published by "
        "another run (other data, base model or settings); tags are immutable: choose a new "
        "MODEL_TAG (or force the overwrite)"
    )


def build_manifest(
    *,
    run_fingerprint: str,
    base_model: str,
    method: str,
    profile: str,
    datasets: dict[str, Any],
    training_arguments: dict[str, Any],
    distributed: dict[str, int],
    metrics: dict[str, Any],
    timings: dict[str, float],
    parameters: dict[str, int],
    train_steps: int,
    tokens_trained: int,
) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "run_fingerprint": run_fingerprint,
        "base_model": base_model,
        "method": method,
        "profile": profile,
        "prompt_format": PROMPT_FORMAT,
        "datasets": datasets,
        "training_arguments": training_arguments,
        # world_size, each process's batch and accumulation, the effective batch
        "distributed": distributed,
        "metrics": metrics,
        "timings": {key: round(value, 2) for key, value in timings.items()},
        "parameters": parameters,
        "train_steps": train_steps,
        "tokens_trained": tokens_trained,
        "created_by": {
            "package": "myretail-finetune",
            "version": __version__,
            "python": platform.python_version(),
        },
    }


def publish_trained(
    run: PublishedRun, model: Any, tokenizer: Any, manifest: dict[str, Any]
) -> dict[str, Any]:
    """Save the result into a staging folder and publish it; returns the manifest.

    When the tag appeared meanwhile, holding this same run (an earlier attempt of this
    Job finished first), that is success too.
    """
    from myretail_finetune.training import save_result

    settings = run.settings
    staging = Path(tempfile.mkdtemp(prefix="myretail-publish-"))
    try:
        save_result(model, tokenizer, settings.method, staging)
        return run.store.publish(
            staging, settings.model_name, run.tag, manifest, force=settings.force_publish
        )
    except StoreTagExists as exc:
        published = find_published_run(run)
        if published is None:
            raise TagExistsError(str(exc)) from exc
        return published
    except StorageError as exc:
        raise StoreError(f"publishing failed, nothing was published: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
