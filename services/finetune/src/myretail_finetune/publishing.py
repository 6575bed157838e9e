"""Publishing a trained result as ``<store>/<model-name>/<tag>/`` with its manifest.

The folder holds the PEFT adapter (``adapter_config.json``, ``adapter_model.safetensors``)
or, for method ``full``, the full model weights, plus the tokenizer files and
``manifest.json``. ``ModelStore.publish`` adds ``model_name``, ``tag``, ``published_at``
and the file list with sizes and sha256s, and publishes atomically: readers never see a
half-published tag, and an existing tag is never overwritten unless forced.
See the README for every manifest field.
"""

from __future__ import annotations

import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any

from myretail_common.model_store import ModelStore
from myretail_common.model_store import TagExistsError as StoreTagExists
from myretail_common.storage import Storage, StorageError
from myretail_finetune import __version__
from myretail_finetune.config import FinetuneSettings
from myretail_finetune.errors import ConfigError, StoreError, TagExistsError

MANIFEST_FORMAT = 1
PROMPT_FORMAT = "myretail_common.prompt.build_prompt (### Question / ### Answer), EOS-terminated"


def open_store(store_uri: str, storage_options: dict[str, Any]) -> ModelStore:
    try:
        return ModelStore(Storage(store_uri, **storage_options))
    except ValueError as exc:
        raise ConfigError(f"model store {store_uri!r}: {exc}") from exc


def check_tag_free(store: ModelStore, model: str, tag: str, force: bool) -> None:
    """Fail before training when the tag exists (or the store cannot be reached)."""
    try:
        exists = store.has_tag(model, tag)
    except StorageError as exc:
        raise StoreError(f"model store unreachable: {exc}") from exc
    if exists and not force:
        raise TagExistsError(
            f"model tag {model}:{tag} already exists at {store.tag_uri(model, tag)}; "
            "tags are immutable: choose a new MODEL_TAG (or force the overwrite)"
        )


def build_manifest(
    *,
    base_model: str,
    method: str,
    profile: str,
    datasets: dict[str, Any],
    training_arguments: dict[str, Any],
    metrics: dict[str, Any],
    timings: dict[str, float],
    parameters: dict[str, int],
    train_steps: int,
    tokens_trained: int,
) -> dict[str, Any]:
    return {
        "format": MANIFEST_FORMAT,
        "base_model": base_model,
        "method": method,
        "profile": profile,
        "prompt_format": PROMPT_FORMAT,
        "datasets": datasets,
        "training_arguments": training_arguments,
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
    store: ModelStore,
    model: Any,
    tokenizer: Any,
    settings: FinetuneSettings,
    tag: str,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Save the result into a staging folder and publish it; returns the manifest."""
    from myretail_finetune.training import save_result

    staging = Path(tempfile.mkdtemp(prefix="myretail-publish-"))
    try:
        save_result(model, tokenizer, settings.method, staging)
        return store.publish(
            staging, settings.model_name, tag, manifest, force=settings.force_publish
        )
    except StoreTagExists as exc:
        raise TagExistsError(str(exc)) from exc
    except StorageError as exc:
        raise StoreError(f"publishing failed, nothing was published: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
