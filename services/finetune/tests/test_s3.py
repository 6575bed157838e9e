"""s3:// everywhere, on a real S3-compatible server (SeaweedFS): datasets, checkpoints, store.

Uses method ``full`` so the full-weights publish path is exercised too.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest

from myretail_common.model_store import ModelStore
from myretail_common.storage import Storage
from myretail_finetune.config import FinetuneSettings
from myretail_finetune.job import run_job
from myretail_testkit.models import torch_threads
from myretail_testkit.seaweedfs import SeaweedFS

pytestmark = pytest.mark.slow


def _settings_on_s3(
    seaweedfs: SeaweedFS, bucket_name: str, project_root: Path, examples: int, **values: Any
) -> FinetuneSettings:
    """A small Job whose datasets (the first ``examples`` lines) and store are on S3."""
    bucket = Storage(f"s3://{bucket_name}", **seaweedfs.storage_options())
    for name in ("loyalty_qa_train.jsonl", "loyalty_qa_val.jsonl"):
        lines = (project_root / "data" / name).read_text().splitlines()[:examples]
        bucket.write_text(f"datasets/{name}", "\n".join(lines) + "\n")
    return FinetuneSettings(
        train_dataset_file=f"s3://{bucket_name}/datasets/loyalty_qa_train.jsonl",
        eval_dataset_file=f"s3://{bucket_name}/datasets/loyalty_qa_val.jsonl",
        model_store_uri=f"s3://{bucket_name}/models",
        s3_endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key=seaweedfs.secret_key,
        batch_size=4,
        eval_before_training=False,
        eval_train_accuracy=False,
        eval_max_examples=2,
        eval_max_new_tokens=4,
        **values,
    )


def test_full_fine_tune_from_and_to_s3(
    seaweedfs: SeaweedFS, s3_bucket: str, tiny_base: Path, project_root: Path, tmp_path: Path
) -> None:
    options = seaweedfs.storage_options()
    settings = _settings_on_s3(
        seaweedfs,
        s3_bucket,
        project_root,
        24,
        base_model=str(tiny_base),
        model_tag="s3-full",
        method="full",
        checkpoint_dir=f"s3://{s3_bucket}/checkpoints/run-1",
        max_steps=4,
        checkpoint_steps=2,
        checkpoints_to_keep=1,
    )
    with torch_threads(1):
        result = run_job(settings)

    assert result.tag_uri == f"s3://{s3_bucket}/models/loyalty-assistant/s3-full"
    store = ModelStore(Storage(f"s3://{s3_bucket}/models", **options))
    assert store.list_tags("loyalty-assistant") == ["s3-full"]
    manifest = store.read_manifest("loyalty-assistant", "s3-full")
    assert manifest["method"] == "full"
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(manifest["files"])
    assert manifest["datasets"]["train"]["uri"].startswith("s3://")
    assert manifest["datasets"]["train"]["examples"] == 24

    # Checkpoints went to the store, complete and pruned to the newest one.
    checkpoints = Storage(f"s3://{s3_bucket}/checkpoints/run-1", **options)
    assert [n for n in checkpoints.list_dir("") if n.startswith("checkpoint-")] == ["checkpoint-4"]
    marker = json.loads(checkpoints.read_text("checkpoint-4/checkpoint-complete.json"))
    assert marker["step"] == 4

    # The published full weights load like any model.
    from transformers import AutoModelForCausalLM

    local = store.fetch("loyalty-assistant", "s3-full", tmp_path / "cache")
    model = AutoModelForCausalLM.from_pretrained(local)
    assert model.config.model_type == "llama"


def test_prod_defaults_on_s3_under_a_read_only_root(
    seaweedfs: SeaweedFS,
    s3_bucket: str,
    tiny_base: Path,
    project_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """As in the production Job: the working directory is read-only, the base model comes
    from the store into a writable cache, and with no CHECKPOINT_DIR the checkpoints go to
    the S3 store (a retry in another zone finds them)."""
    monkeypatch.chdir("/sys")  # read-only even for root
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # the chart's cache volume
    for name in ("MODEL_CACHE_DIR", "CHECKPOINT_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    options = seaweedfs.storage_options()
    settings = _settings_on_s3(
        seaweedfs,
        s3_bucket,
        project_root,
        8,
        base_model=f"s3://{s3_bucket}/base-models/tiny",
        model_tag="prod-defaults",
        max_steps=2,
        checkpoint_steps=2,
    )
    bucket = Storage(f"s3://{s3_bucket}", **options)
    bucket.publish_dir(tiny_base, "base-models/tiny", marker="config.json")
    with torch_threads(1):
        result = run_job(settings)
    assert result.manifest["base_model"] == f"s3://{s3_bucket}/base-models/tiny"
    cached = tmp_path / "hf" / "myretail-model-cache" / "base-models"
    assert [p.name for p in cached.glob("*/config.json")] == ["config.json"]
    checkpoints = Storage(
        f"s3://{s3_bucket}/models/loyalty-assistant/.checkpoints/prod-defaults", **options
    )
    assert checkpoints.is_published("checkpoint-2", "checkpoint-complete.json")
    # The checkpoints are no tag: the store lists only the published one.
    store = ModelStore(Storage(f"s3://{s3_bucket}/models", **options))
    assert store.list_tags("loyalty-assistant") == ["prod-defaults"]
