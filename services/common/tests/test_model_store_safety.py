"""Model tags survive what goes wrong while publishing, on file:// and on a real S3 server
(SeaweedFS): a forced republish killed midway, two publishers of one tag at once, a store
written before versioned publishing, and keys that try to leave the store."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest

from myretail_common.model_store import ModelStore, validate_name
from myretail_common.storage import Storage, StorageError


@pytest.fixture(params=["file", "s3"])
def backend(request, tmp_path) -> tuple[str, dict[str, object]]:
    """(store root URI, storage options) of an empty store."""
    if request.param == "file":
        return f"file://{tmp_path / 'store'}", {}
    seaweedfs = request.getfixturevalue("seaweedfs")
    bucket = request.getfixturevalue("s3_bucket")
    return f"s3://{bucket}/models", seaweedfs.storage_options()


def open_store(backend: tuple[str, dict[str, object]]) -> ModelStore:
    root, options = backend
    return ModelStore(Storage(root, **options))


def weights_folder(root: Path, fill: str, shards: int = 3) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for index in range(shards):
        (root / f"shard-{index}.safetensors").write_text(fill * (2048 + index))
    (root / "tokenizer.json").write_text(json.dumps({"fill": fill}))
    return root


def assert_whole(store: ModelStore, tag: str, fill: str, cache: Path) -> None:
    """The tag downloads, passes its own checksums, and is the version written with ``fill``."""
    local = store.fetch("loyalty", tag, cache)  # verifies every file's size and sha256
    assert json.loads((local / "tokenizer.json").read_text()) == {"fill": fill}
    assert (local / "shard-0.safetensors").read_text() == fill * 2048


SLOW_REPUBLISHER = textwrap.dedent(
    """
    import json, shutil, sys, time
    from pathlib import Path
    from myretail_common.model_store import ModelStore
    from myretail_common.storage import Storage

    root, folder, options = sys.argv[1], Path(sys.argv[2]), json.loads(sys.argv[3])
    storage = Storage(root, **options)

    def slowly(copy):
        def copy_one(source, target, *args, **kwargs):
            print("copying", source, flush=True)
            time.sleep(0.3)  # the test kills this process in here
            return copy(source, target, *args, **kwargs)
        return copy_one

    if storage.is_local:
        real_copytree = shutil.copytree
        shutil.copytree = lambda source, target, **kw: real_copytree(
            source, target, copy_function=slowly(shutil.copy2), **kw
        )
    else:
        storage.fs.put_file = slowly(storage.fs.put_file)
    ModelStore(storage).publish(folder, "loyalty", "v1", {"run": 2}, force=True)
    print("finished", flush=True)
    """
)


def test_a_forced_republish_killed_midway_leaves_the_old_tag_intact(backend, tmp_path):
    store = open_store(backend)
    store.publish(weights_folder(tmp_path / "old", "a"), "loyalty", "v1", {"run": 1})
    root, options = backend
    republisher = subprocess.Popen(
        [
            sys.executable,
            "-c",
            SLOW_REPUBLISHER,
            root,
            str(weights_folder(tmp_path / "new", "b", shards=8)),
            json.dumps(options),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert republisher.stdout is not None
        copied = [republisher.stdout.readline() for _ in range(3)]
        if not all(line.startswith("copying") for line in copied):
            republisher.kill()
            pytest.fail(f"the republisher did not start copying: {republisher.communicate()}")
        republisher.kill()  # SIGKILL: no cleanup, no finally blocks
        republisher.wait(timeout=30)
    finally:
        if republisher.poll() is None:
            republisher.kill()
    assert store.has_tag("loyalty", "v1")
    assert store.read_manifest("loyalty", "v1")["run"] == 1
    assert store.list_tags("loyalty") == ["v1"]
    assert_whole(store, "v1", "a", tmp_path / "cache")
    # The next forced republish goes through, over whatever the killed one left behind.
    store.publish(weights_folder(tmp_path / "again", "c"), "loyalty", "v1", {"run": 3}, force=True)
    assert store.read_manifest("loyalty", "v1")["run"] == 3
    assert_whole(store, "v1", "c", tmp_path / "cache")


def test_a_publisher_overtaken_midway_leaves_a_tag_that_passes_its_checksums(
    backend, tmp_path, monkeypatch
):
    """Two publishers of one tag, interleaved the worst way: the slow one stops after its
    first file while the other publishes in full, then finishes."""
    store = open_store(backend)
    store.publish(weights_folder(tmp_path / "first", "a"), "loyalty", "v1", {"run": 0})
    slow = open_store(backend)  # its own client, as a second Job would have
    first_file_written, overtaken = threading.Event(), threading.Event()

    def pausing_after_the_first_file(copy: Any) -> Any:
        def copy_one(*args: Any, **kwargs: Any) -> Any:
            result = copy(*args, **kwargs)
            if not first_file_written.is_set():
                first_file_written.set()
                assert overtaken.wait(120)
            return result

        return copy_one

    if slow.storage.is_local:
        real_copytree = shutil.copytree

        def copytree(source: Any, target: Any, **kwargs: Any) -> Any:
            if threading.current_thread() is publisher:
                kwargs["copy_function"] = pausing_after_the_first_file(shutil.copy2)
            return real_copytree(source, target, **kwargs)

        monkeypatch.setattr(shutil, "copytree", copytree)
    else:
        slow.storage.fs.put_file = pausing_after_the_first_file(slow.storage.fs.put_file)
    folder = weights_folder(tmp_path / "slow", "b", shards=6)
    publisher = threading.Thread(
        target=slow.publish, args=(folder, "loyalty", "v1", {"run": "b"}), kwargs={"force": True}
    )
    publisher.start()
    try:
        assert first_file_written.wait(60)
        fast = weights_folder(tmp_path / "fast", "c", shards=6)
        store.publish(fast, "loyalty", "v1", {"run": "c"}, force=True)
        assert_whole(store, "v1", "c", tmp_path / "cache-fast")
    finally:
        overtaken.set()
        publisher.join(timeout=120)
    assert store.read_manifest("loyalty", "v1")["run"] == "b"  # the last switch wins
    assert_whole(store, "v1", "b", tmp_path / "cache")


def test_concurrent_first_publishes_leave_one_whole_tag(backend, tmp_path):
    outcomes: list[str] = []
    start = threading.Barrier(2)

    def publish(fill: str) -> None:
        start.wait()
        try:
            open_store(backend).publish(
                weights_folder(tmp_path / fill, fill), "loyalty", "v2", {"run": fill}
            )
            outcomes.append("published")
        except StorageError:  # TagExistsError: the other one was first
            outcomes.append("exists")

    publishers = [threading.Thread(target=publish, args=(fill,)) for fill in ("d", "e")]
    for publisher in publishers:
        publisher.start()
    for publisher in publishers:
        publisher.join(timeout=300)
    assert "published" in outcomes and len(outcomes) == 2
    store = open_store(backend)
    assert_whole(store, "v2", store.read_manifest("loyalty", "v2")["run"], tmp_path / "cache")


def test_a_tag_published_before_versions_is_republished_in_place(backend, tmp_path):
    """Stores written by the first release hold a tag's files straight in its folder."""
    store = open_store(backend)
    legacy = weights_folder(tmp_path / "legacy", "a")
    (legacy / "manifest.json").write_text(
        json.dumps({"run": "legacy", "files": {}, "tag": "v1", "model_name": "loyalty"})
    )
    store.storage.publish_dir(legacy, "loyalty/v1")  # the first release's layout
    assert store.read_manifest("loyalty", "v1")["run"] == "legacy"
    store.publish(weights_folder(tmp_path / "new", "b"), "loyalty", "v1", {"run": 2}, force=True)
    assert store.read_manifest("loyalty", "v1")["run"] == 2
    assert_whole(store, "v1", "b", tmp_path / "cache")
    store.publish(weights_folder(tmp_path / "newer", "c"), "loyalty", "v1", {"run": 3}, force=True)
    assert_whole(store, "v1", "c", tmp_path / "cache")


@pytest.mark.parametrize("name", ["..", "v1..2", "..v1", "v1\n", "v1\r\n", "v1\x00"])
def test_names_with_dot_dot_or_a_trailing_newline_are_refused(name):
    with pytest.raises(ValueError, match="invalid tag"):
        validate_name("tag", name)


@pytest.mark.parametrize("key", ["../outside", "a/../../b", "a/..", "a\\..\\b", "m/t/../../x"])
def test_storage_keys_with_dot_dot_are_refused_on_both_backends(backend, key):
    root, options = backend
    storage = Storage(root, **options)
    for use in (storage.read_text, storage.exists, storage.uri, storage.delete):
        with pytest.raises(ValueError, match="escapes"):
            use(key)
