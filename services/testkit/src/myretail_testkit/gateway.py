"""The inference gateway (``ENGINE=remote``) for tests: served in front of an upstream.

``store_with_tags(published, folder, tags)`` copies a published store and publishes the
tag's files again under more tags (a canary that answers like the stable tag but is a
tag of its own); ``serve_gateway(settings)`` serves ``create_app(settings)`` on loopback
and waits until ``/readyz`` says ready (tokenizers loaded, the upstream healthy)::

    store = store_with_tags(published_adapter, tmp_path, ["v2"])
    settings = make_settings(published_adapter, cache, model_store_uri=store,
                             engine="remote", upstream_base_url=upstream.base_url)
    with serve_gateway(settings) as gateway:
        httpx.post(gateway.url + "/generate", json={"prompt": "..."})

Only test code imports this module.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from myretail_common.model_store import MANIFEST_NAME, ModelStore
from myretail_common.storage import Storage
from myretail_inference.app import create_app
from myretail_inference.settings import InferenceSettings
from myretail_testkit.servers import LiveServer

# What the fine-tune's manifest holds that publishing sets again.
_PUBLISH_FIELDS = ("files", "tag", "model_name", "published_at")


def store_with_tags(published: Any, folder: Path, tags: list[str]) -> str:
    """A copy of ``published``'s store where ``tags`` hold the same files; its URI."""
    store_dir = folder / "store"
    shutil.copytree(Path(published.store_uri.removeprefix("file://")), store_dir, symlinks=True)
    store = ModelStore(Storage(store_dir.as_uri()))
    manifest = json.loads((published.tag_path / MANIFEST_NAME).read_text())
    kept = {key: value for key, value in manifest.items() if key not in _PUBLISH_FIELDS}
    for tag in tags:
        files = folder / f"files-{tag}"
        shutil.copytree(published.tag_path, files)
        (files / MANIFEST_NAME).unlink()
        store.publish(files, published.model_name, tag, kept)
    return store_dir.as_uri()


def remote_settings(
    settings: InferenceSettings, upstream: Any, store_uri: str, **overrides: Any
) -> InferenceSettings:
    """``settings`` turned into a gateway's: ``ENGINE=remote`` to ``upstream`` (an
    :class:`~myretail_testkit.openai_upstream.OpenAIUpstream`), tags from ``store_uri``."""
    values = {
        "engine": "remote",
        "upstream_base_url": upstream.base_url,
        "upstream_timeout_seconds": 5.0,
        "model_store_uri": store_uri,
        **overrides,
    }
    return settings.model_copy(update=values)


def wait_until_ready(url: str, timeout: float = 60.0) -> None:
    """Until ``GET <url>/readyz`` answers 200 (AssertionError with its last answer)."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            answer = httpx.get(f"{url}/readyz", timeout=5)
        except httpx.HTTPError as exc:
            last = str(exc)
        else:
            if answer.status_code == 200:
                return
            last = answer.text
        time.sleep(0.1)
    raise AssertionError(f"{url} did not turn ready within {timeout:g}s: {last}")


@contextmanager
def serve_gateway(settings: InferenceSettings, timeout: float = 60.0) -> Iterator[LiveServer]:
    """``create_app(settings)`` on loopback, once ready."""
    with LiveServer(create_app(settings)) as live:
        wait_until_ready(live.url, timeout)
        yield live
