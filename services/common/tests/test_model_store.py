"""Publishing, listing and fetching model tags, and the myretail-store CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from myretail_common.model_store import ModelStore, TagExistsError, TagNotFoundError
from myretail_common.storage import Storage


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path) -> ModelStore:
    if request.param == "file":
        return ModelStore(Storage(f"file://{tmp_path / 'store'}"))
    seaweedfs = request.getfixturevalue("seaweedfs")
    bucket = request.getfixturevalue("s3_bucket")
    return ModelStore(Storage(f"s3://{bucket}/models", **seaweedfs.storage_options()))


def adapter_folder(root: Path, weights: str = "w" * 4096) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_model.safetensors").write_text(weights)
    (root / "tokenizer.json").write_text('{"version": "1.0"}')
    return root


def test_publish_list_and_read_manifest(store: ModelStore, tmp_path: Path):
    published = store.publish(
        adapter_folder(tmp_path / "a"), "loyalty", "v1", {"base_model": "tiny-llama"}
    )
    assert published["files"]["adapter_model.safetensors"]["size"] == 4096
    assert store.list_models() == ["loyalty"]
    assert store.list_tags("loyalty") == ["v1"]
    assert store.has_tag("loyalty", "v1")
    manifest = store.read_manifest("loyalty", "v1")
    assert manifest["base_model"] == "tiny-llama"
    assert manifest["tag"] == "v1"
    assert set(manifest["files"]) == {"adapter_model.safetensors", "tokenizer.json"}


def test_tags_are_immutable_unless_forced(store: ModelStore, tmp_path: Path):
    store.publish(adapter_folder(tmp_path / "a"), "loyalty", "v1", {"run": 1})
    with pytest.raises(TagExistsError, match="already exists"):
        store.publish(adapter_folder(tmp_path / "b"), "loyalty", "v1", {"run": 2})
    assert store.read_manifest("loyalty", "v1")["run"] == 1
    store.publish(adapter_folder(tmp_path / "c"), "loyalty", "v1", {"run": 3}, force=True)
    assert store.read_manifest("loyalty", "v1")["run"] == 3


def test_missing_tag_names_the_uri_and_the_published_tags(store: ModelStore, tmp_path: Path):
    store.publish(adapter_folder(tmp_path / "a"), "loyalty", "v1", {})
    with pytest.raises(TagNotFoundError) as caught:
        store.read_manifest("loyalty", "v9")
    message = str(caught.value)
    assert "loyalty:v9 not found" in message
    assert store.tag_uri("loyalty", "v9") in message
    assert "published tags: v1" in message


def test_fetch_downloads_verifies_and_reuses_the_cache(store: ModelStore, tmp_path: Path):
    store.publish(adapter_folder(tmp_path / "a"), "loyalty", "v1", {"base_model": "b"})
    cache = tmp_path / "cache"
    local = store.fetch("loyalty", "v1", cache)
    assert (local / "adapter_model.safetensors").read_text() == "w" * 4096
    assert json.loads((local / "manifest.json").read_text())["base_model"] == "b"
    marker = local / "adapter_model.safetensors"
    before = marker.stat().st_mtime_ns
    assert store.fetch("loyalty", "v1", cache) == local
    assert marker.stat().st_mtime_ns == before  # served from the cache, not downloaded again
    marker.write_text("corrupted")  # a damaged cache is detected and replaced
    local = store.fetch("loyalty", "v1", cache)
    assert (local / "adapter_model.safetensors").read_text() == "w" * 4096


@pytest.mark.parametrize("bad", ["", "../up", "has space", "a/b", "x" * 200])
def test_invalid_names_are_rejected(store: ModelStore, bad: str):
    with pytest.raises(ValueError, match="invalid"):
        store.read_manifest("loyalty", bad)


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "myretail_common.store_cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_check_tag_cli_against_s3(seaweedfs, s3_bucket, tmp_path: Path):
    store = ModelStore(Storage(f"s3://{s3_bucket}/models", **seaweedfs.storage_options()))
    store.publish(adapter_folder(tmp_path / "a"), "loyalty", "v1", {"base_model": "tiny"})
    env = {**seaweedfs.env(), "MODEL_ASSETS_BUCKET": s3_bucket}  # the book's variable
    ok = run_cli("check-tag", "--model", "loyalty", "--tag", "v1", env=env)
    assert ok.returncode == 0, ok.stderr
    assert "loyalty:v1 is published" in ok.stdout
    missing = run_cli("check-tag", "--model", "loyalty", "--tag", "v2", env=env)
    assert missing.returncode == 1
    assert "loyalty:v2 not found" in missing.stderr
    assert "published tags: v1" in missing.stderr
    assert seaweedfs.secret_key not in missing.stderr + missing.stdout


def test_check_tag_cli_reports_an_unreachable_store(tmp_path: Path):
    env = {
        "MODEL_STORE_URI": "s3://bucket/models",
        "S3_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_ACCESS_KEY_ID": "k",
        "AWS_SECRET_ACCESS_KEY": "super-secret-value",
        "AWS_MAX_ATTEMPTS": "1",
    }
    result = run_cli("check-tag", "--model", "loyalty", "--tag", "v1", env=env)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "super-secret-value" not in result.stderr
