"""The storage layer against file:// and a real S3-compatible server (SeaweedFS)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from myretail_common.logs import configure_logging, register_secret
from myretail_common.storage import (
    AlreadyPublishedError,
    ObjectNotFoundError,
    Storage,
    StorageUnavailableError,
)


@pytest.fixture(params=["file", "s3"])
def storage(request, tmp_path) -> Storage:
    if request.param == "file":
        return Storage(f"file://{tmp_path / 'store'}")
    seaweedfs = request.getfixturevalue("seaweedfs")
    bucket = request.getfixturevalue("s3_bucket")
    return Storage(f"s3://{bucket}/models", **seaweedfs.storage_options())


def make_folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_write_read_exists_list_delete(storage: Storage):
    storage.write_text("a/one.txt", "one")
    storage.write_bytes("a/sub/two.bin", b"\x00\x01")
    assert storage.read_text("a/one.txt") == "one"
    assert storage.read_bytes("a/sub/two.bin") == b"\x00\x01"
    assert storage.exists("a/one.txt")
    assert not storage.exists("a/missing.txt")
    assert storage.list_dir("a") == ["one.txt", "sub"]
    assert storage.list_files("a") == ["one.txt", "sub/two.bin"]
    assert storage.list_dir("nothing-here") == []
    storage.delete("a")
    assert not storage.exists("a/one.txt")


def test_missing_object_is_a_clear_error_naming_the_uri(storage: Storage):
    with pytest.raises(ObjectNotFoundError) as caught:
        storage.read_text("no/such/file.json")
    assert str(caught.value) == f"{storage.uri('no/such/file.json')} does not exist"


def test_paths_cannot_escape_the_root(storage: Storage):
    with pytest.raises(ValueError, match="escapes"):
        storage.read_text("../outside")


def test_publish_makes_the_folder_visible_complete(storage: Storage, tmp_path: Path):
    folder = make_folder(
        tmp_path / "out", {"weights.bin": "w" * 1000, "tok/vocab.json": "{}", "manifest.json": "{}"}
    )
    uri = storage.publish_dir(folder, "llama/v1")
    assert uri == storage.uri("llama/v1")
    assert storage.is_published("llama/v1")
    assert storage.list_files("llama/v1") == ["manifest.json", "tok/vocab.json", "weights.bin"]
    assert storage.list_dir("llama") == ["v1"]  # no staging leftovers visible


def test_publish_refuses_to_overwrite_unless_asked(storage: Storage, tmp_path: Path):
    first = make_folder(tmp_path / "first", {"a.txt": "1", "manifest.json": '{"v": 1}'})
    second = make_folder(tmp_path / "second", {"b.txt": "2", "manifest.json": '{"v": 2}'})
    storage.publish_dir(first, "m/t")
    with pytest.raises(AlreadyPublishedError, match="already published"):
        storage.publish_dir(second, "m/t")
    assert storage.read_text("m/t/a.txt") == "1"
    storage.publish_dir(second, "m/t", overwrite=True)
    assert storage.list_files("m/t") == ["b.txt", "manifest.json"]
    assert json.loads(storage.read_text("m/t/manifest.json")) == {"v": 2}


def test_publish_needs_a_marker(storage: Storage, tmp_path: Path):
    folder = make_folder(tmp_path / "out", {"a.txt": "1"})
    with pytest.raises(ValueError, match=r"no manifest\.json"):
        storage.publish_dir(folder, "m/t")


CRASHING_PUBLISHER = textwrap.dedent(
    """
    import os, sys, json
    from pathlib import Path
    from myretail_common.storage import Storage

    root, folder, options = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    storage = Storage(root, **options)

    def crash(*args, **kwargs):
        os._exit(17)  # a hard crash: no cleanup, no finally blocks

    if storage.is_local:
        os.rename = crash  # every file is staged; the crash hits just before the rename
    else:
        real_put, uploaded = storage.fs.put_file, []

        def put_two_then_crash(*args, **kwargs):
            if len(uploaded) == 2:
                crash()
            uploaded.append(args[1])
            return real_put(*args, **kwargs)

        storage.fs.put_file = put_two_then_crash
    storage.publish_dir(folder, "crash/v1")
    """
)


def test_a_crash_mid_publish_leaves_no_visible_tag(storage: Storage, tmp_path: Path, request):
    files = {f"shard-{i}.bin": "x" * 100 for i in range(6)} | {"manifest.json": "{}"}
    folder = make_folder(tmp_path / "out", files)
    options = (
        request.getfixturevalue("seaweedfs").storage_options()
        if storage.root_uri.startswith("s3://")
        else {}
    )
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASHING_PUBLISHER,
            storage.root_uri,
            str(folder),
            json.dumps(options),
        ],
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == 17, result.stderr.decode()
    assert not storage.is_published("crash/v1")
    # A reader listing the model sees no complete tag; the next publish succeeds cleanly.
    assert [t for t in storage.list_dir("crash") if storage.is_published(f"crash/{t}")] == []
    storage.publish_dir(folder, "crash/v1")
    assert storage.list_files("crash/v1") == sorted(files)


def test_unreachable_s3_endpoint_is_a_clear_unavailable_error():
    storage = Storage(
        "s3://bucket/models",
        endpoint_url="http://127.0.0.1:9",  # discard port: nothing listens
        key="k",
        secret="s",
        config_kwargs={"connect_timeout": 1, "retries": {"max_attempts": 1}},
    )
    with pytest.raises(StorageUnavailableError, match=r"s3://bucket/models/x\.json"):
        storage.read_text("x.json")


def test_wrong_credentials_are_reported_without_echoing_them(seaweedfs, s3_bucket):
    storage = Storage(
        f"s3://{s3_bucket}/models",
        endpoint_url=seaweedfs.endpoint_url,
        key="wrong-access-key",
        secret="wrong-secret-value-123",
    )
    with pytest.raises((StorageUnavailableError, ObjectNotFoundError)) as caught:
        storage.write_text("x.txt", "data")
    assert "wrong-secret-value-123" not in str(caught.value)


def test_credentials_never_reach_the_logs(seaweedfs, s3_bucket, tmp_path):
    stream = io.StringIO()
    configure_logging("DEBUG", "json", stream=stream)
    register_secret(seaweedfs.secret_key)
    register_secret(seaweedfs.access_key)
    try:
        storage = Storage(f"s3://{s3_bucket}/models", **seaweedfs.storage_options())
        folder = make_folder(tmp_path / "out", {"a.txt": "1", "manifest.json": "{}"})
        storage.publish_dir(folder, "m/t")
        storage.read_text("m/t/a.txt")
        logging.getLogger("test").info("settings", extra={"aws_secret_access_key": "plain"})
    finally:
        configure_logging("INFO", "json")
    output = stream.getvalue()
    assert "published folder" in output  # the logs were captured at all
    assert len(output.splitlines()) > 5  # botocore's debug lines included
    assert seaweedfs.secret_key not in output
    assert seaweedfs.access_key not in output
    assert '"aws_secret_access_key": "***"' in output
