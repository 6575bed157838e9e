"""``myretail-store fetch NAME TAG DIR``: what the vLLM pods' init container runs.

Against ``file://`` and a real S3 server (SeaweedFS): the adapter lands in DIR with every
checksum verified, a tampered file or another base model is refused with a clear message
and leaves nothing in DIR, and a DIR that already holds the version is left alone.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from myretail_common.model_store import MANIFEST_NAME, BaseModelMismatchError, ModelStore
from myretail_common.store_cli import main
from myretail_testkit.store_fixtures import STORE_KINDS, adapter_folder, model_store, store_env

BASE = "meta-llama/Meta-Llama-3-8B"


@pytest.fixture(params=STORE_KINDS)
def store(request, tmp_path, monkeypatch) -> ModelStore:
    store = model_store(request.param, request, tmp_path)
    for name, value in store_env(store, request).items():
        monkeypatch.setenv(name, value)
    store.publish(adapter_folder(tmp_path / "a"), "loyalty", "v1", {"base_model": BASE})
    return store


def fetch(*args: str) -> int:
    return main(["fetch", "loyalty", "v1", *args])


def tamper(store: ModelStore, name: str) -> None:
    """Change a published file's bytes, keeping its size (only the sha256 can tell)."""
    root = store.storage.published_root(store.tag_path("loyalty", "v1"), MANIFEST_NAME)
    store.storage.write_bytes(f"{root}/{name}", b"x" * 4096)


def test_fetch_copies_the_verified_tag_into_dir(store: ModelStore, tmp_path: Path, capsys):
    target = tmp_path / "adapters" / "v1"
    assert fetch(str(target), "--base-model", BASE) == 0
    assert (target / "adapter_model.safetensors").read_text() == "w" * 4096
    assert json.loads((target / MANIFEST_NAME).read_text())["base_model"] == BASE
    assert f"is in {target}, verified" in capsys.readouterr().out
    assert sorted(path.name for path in target.parent.iterdir()) == ["v1"]  # no staging left


def test_fetch_is_idempotent_and_repairs_a_damaged_copy(store: ModelStore, tmp_path: Path):
    target = tmp_path / "v1"
    assert fetch(str(target)) == 0
    weights = target / "adapter_model.safetensors"
    before = weights.stat().st_mtime_ns
    assert fetch(str(target)) == 0
    assert weights.stat().st_mtime_ns == before  # the verified copy was left as it is
    weights.write_text("v" * 4096)  # same size, other bytes: only the checksum differs
    assert fetch(str(target)) == 0
    assert weights.read_text() == "w" * 4096


def test_a_checksum_mismatch_is_refused_and_leaves_nothing(
    store: ModelStore, tmp_path: Path, capsys
):
    tamper(store, "adapter_model.safetensors")
    target = tmp_path / "adapters" / "v1"
    assert fetch(str(target)) == 1
    error = capsys.readouterr().err
    assert error.startswith("error: ")
    assert "adapter_model.safetensors has sha256" in error
    assert f"nothing was written to {target}" in error
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # the staging folder is gone too


def test_a_failed_fetch_keeps_the_copy_already_there(store: ModelStore, tmp_path: Path):
    target = tmp_path / "v1"
    assert fetch(str(target)) == 0
    (target / "adapter_model.safetensors").write_text("old")  # an outdated copy
    tamper(store, "adapter_model.safetensors")
    assert fetch(str(target)) == 1
    assert (target / "adapter_model.safetensors").read_text() == "old"  # not half-replaced


def test_another_base_model_is_refused_before_downloading(
    store: ModelStore, tmp_path: Path, capsys
):
    target = tmp_path / "v1"
    assert fetch(str(target), "--base-model", "mistralai/Mistral-7B-v0.1") == 1
    error = capsys.readouterr().err
    assert BASE in error and "mistralai/Mistral-7B-v0.1" in error
    assert not target.exists()
    with pytest.raises(BaseModelMismatchError, match="trained on base model"):
        store.fetch_into("loyalty", "v1", target, base_model="other/base")


def test_a_missing_tag_names_the_published_ones(store: ModelStore, tmp_path: Path, capsys):
    assert main(["fetch", "loyalty", "v9", str(tmp_path / "v9")]) == 1
    assert "published tags: v1" in capsys.readouterr().err
    assert not (tmp_path / "v9").exists()
