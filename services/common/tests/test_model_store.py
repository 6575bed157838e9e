"""Publishing, listing and fetching model tags, and the myretail-store CLI (check-tag, and
wait-tag: the inference pods' init container waits for the tag a fine-tune Job is publishing,
with progress lines, and gives up at its deadline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from myretail_common.model_store import ModelStore, TagExistsError, TagNotFoundError
from myretail_common.storage import Storage
from myretail_common.store_cli import main
from myretail_testkit.store_fixtures import STORE_KINDS, adapter_folder, model_store


@pytest.fixture(params=STORE_KINDS)
def store(request, tmp_path) -> ModelStore:
    return model_store(request.param, request, tmp_path)


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


# An S3 store nobody answers for (port 9: discard), with a secret that must never be printed.
UNREACHABLE_STORE = {
    "MODEL_STORE_URI": "s3://bucket/models",
    "S3_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_ACCESS_KEY_ID": "k",
    "AWS_SECRET_ACCESS_KEY": "super-secret-value",
    "AWS_MAX_ATTEMPTS": "1",
}


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
    result = run_cli("check-tag", "--model", "loyalty", "--tag", "v1", env=UNREACHABLE_STORE)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert "super-secret-value" not in result.stderr


def _publish_later(store: ModelStore, folder: Path, tag: str, delay: float) -> threading.Thread:
    def publish() -> None:
        time.sleep(delay)
        store.publish(adapter_folder(folder), "loyalty", tag, {"base_model": "tiny"})

    thread = threading.Thread(target=publish, daemon=True)
    thread.start()
    return thread


def _wait_args(store_uri: str, *extra: str) -> list[str]:
    return ["--store", store_uri, "wait-tag", "--model", "loyalty", "--tag", "v1", *extra]


def test_waits_with_progress_until_the_tag_is_published(tmp_path: Path, capsys) -> None:
    uri = f"file://{tmp_path / 'store'}"
    publisher = _publish_later(ModelStore(Storage(uri)), tmp_path / "a", "v1", delay=1.0)
    code = main(_wait_args(uri, "--timeout", "60", "--interval", "0.1", "--progress-every", "0.3"))
    publisher.join()
    assert code == 0
    lines = capsys.readouterr().out.splitlines()
    where = f"{uri}/loyalty/v1"
    assert lines[0] == f"waiting for model tag loyalty:v1 at {where} (up to 60 s)"
    progress = [line for line in lines if line.startswith("still waiting for loyalty:v1")]
    assert progress, lines
    assert all(f"at {where}: not published yet;" in line for line in progress)
    assert lines[-1].startswith(f"ok: loyalty:v1 is published at {where} (after ")


def test_a_published_tag_passes_at_once(tmp_path: Path, capsys) -> None:
    uri = f"file://{tmp_path / 'store'}"
    ModelStore(Storage(uri)).publish(adapter_folder(tmp_path / "a"), "loyalty", "v1", {})
    assert main(_wait_args(uri, "--timeout", "5")) == 0
    assert "still waiting" not in capsys.readouterr().out


def test_gives_up_at_the_deadline_naming_tag_store_and_published_tags(
    tmp_path: Path, capsys
) -> None:
    uri = f"file://{tmp_path / 'store'}"
    ModelStore(Storage(uri)).publish(adapter_folder(tmp_path / "a"), "loyalty", "v0", {})
    started = time.monotonic()
    code = main(_wait_args(uri, "--timeout", "1", "--interval", "0.2"))
    assert code == 1
    assert time.monotonic() - started >= 1.0
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: model tag loyalty:v1 was not published at {uri}/loyalty/v1 within 1 s "
        "(published tags: v0); a fine-tune Job publishes it"
    )


def test_waits_for_a_tag_published_to_s3_by_another_process(seaweedfs, s3_bucket, tmp_path):
    """The realistic path: the fine-tune Job (here this process) publishes to S3 while the
    CLI polls; listings cached by s3fs must not hide the new tag."""
    store = ModelStore(Storage(f"s3://{s3_bucket}/models", **seaweedfs.storage_options()))
    store.publish(adapter_folder(tmp_path / "old"), "loyalty", "v0", {})
    env = {**seaweedfs.env(), "MODEL_STORE_URI": f"s3://{s3_bucket}/models"}
    waiting = _start_cli(env, "--timeout", "120", "--interval", "0.2", "--progress-every", "0.5")
    # Publish only once the CLI says it is still waiting (read from its output, not timed).
    seen = []
    assert waiting.stdout is not None
    for line in waiting.stdout:
        seen.append(line)
        if "still waiting for loyalty:v1" in line:
            break
    assert waiting.poll() is None, "it must still be waiting: " + "".join(seen)
    store.publish(adapter_folder(tmp_path / "new"), "loyalty", "v1", {"base_model": "tiny"})
    rest, err = waiting.communicate(timeout=120)
    out = "".join(seen) + rest
    assert waiting.returncode == 0, err
    assert "still waiting for loyalty:v1" in out
    assert f"ok: loyalty:v1 is published at s3://{s3_bucket}/models/loyalty/v1" in out
    assert seaweedfs.secret_key not in out + err


def test_an_unreachable_store_is_waited_for_then_reported() -> None:
    wait = ["wait-tag", "--model", "loyalty", "--tag", "v1", "--timeout", "2", "--interval", "0.5"]
    result = run_cli(*wait, env=UNREACHABLE_STORE)
    assert result.returncode == 1
    assert "was not published at s3://bucket/models/loyalty/v1 within 2 s" in result.stderr
    assert "the store's last error:" in result.stderr
    assert "super-secret-value" not in result.stderr + result.stdout


def _start_cli(env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    command = ["wait-tag", "--model", "loyalty", "--tag", "v1", *extra]
    return subprocess.Popen(
        [sys.executable, "-u", "-m", "myretail_common.store_cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )
