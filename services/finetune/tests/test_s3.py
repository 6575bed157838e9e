"""s3:// everywhere, on a real S3-compatible server (SeaweedFS): datasets, checkpoints, store.

Uses method ``full`` so the full-weights publish path is exercised too.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from myretail_common.model_store import ModelStore
from myretail_common.storage import Storage
from myretail_finetune.config import FinetuneSettings
from myretail_finetune.job import run_job
from myretail_testkit.models import torch_threads
from myretail_testkit.seaweedfs import SeaweedFS

pytestmark = pytest.mark.slow


def test_full_fine_tune_from_and_to_s3(
    seaweedfs: SeaweedFS, s3_bucket: str, tiny_base: Path, project_root: Path, tmp_path: Path
) -> None:
    options = seaweedfs.storage_options()
    bucket = Storage(f"s3://{s3_bucket}", **options)
    for name in ("loyalty_qa_train.jsonl", "loyalty_qa_val.jsonl"):
        lines = (project_root / "data" / name).read_text().splitlines()[:24]
        bucket.write_text(f"datasets/{name}", "\n".join(lines) + "\n")
    settings = FinetuneSettings(
        train_dataset_file=f"s3://{s3_bucket}/datasets/loyalty_qa_train.jsonl",
        eval_dataset_file=f"s3://{s3_bucket}/datasets/loyalty_qa_val.jsonl",
        base_model=str(tiny_base),
        model_tag="s3-full",
        method="full",
        model_store_uri=f"s3://{s3_bucket}/models",
        checkpoint_dir=f"s3://{s3_bucket}/checkpoints/run-1",
        s3_endpoint_url=seaweedfs.endpoint_url,
        aws_access_key_id=seaweedfs.access_key,
        aws_secret_access_key=seaweedfs.secret_key,
        max_steps=4,
        batch_size=4,
        checkpoint_steps=2,
        checkpoints_to_keep=1,
        eval_before_training=False,
        eval_train_accuracy=False,
        eval_max_examples=2,
        eval_max_new_tokens=4,
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
