"""Model stores for the store's tests: the same test against ``file://`` and SeaweedFS.

``model_store(kind, request, tmp_path)`` builds an empty store of the given kind
("file" or "s3"; s3 takes the session's ``seaweedfs`` and a fresh ``s3_bucket`` from
pytest), and ``adapter_folder`` writes a small folder that looks like a published adapter::

    @pytest.fixture(params=STORE_KINDS)
    def store(request, tmp_path):
        return model_store(request.param, request, tmp_path)

Only test code imports this module.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from myretail_common.model_store import ModelStore
from myretail_common.storage import Storage

STORE_KINDS = ("file", "s3")


def model_store(kind: str, request: Any, tmp_path: Path) -> ModelStore:
    """An empty store: ``file://`` under ``tmp_path``, or a fresh bucket on SeaweedFS."""
    if kind == "file":
        return ModelStore(Storage(f"file://{tmp_path / 'store'}"))
    seaweedfs = request.getfixturevalue("seaweedfs")
    bucket = request.getfixturevalue("s3_bucket")
    return ModelStore(Storage(f"s3://{bucket}/models", **seaweedfs.storage_options()))


def store_env(store: ModelStore, request: Any) -> dict[str, str]:
    """Environment variables that point ``myretail-store`` at ``store``."""
    env = {"MODEL_STORE_URI": store.storage.uri()}
    if store.storage.uri().startswith("s3://"):
        env.update(request.getfixturevalue("seaweedfs").env())
    return env


def adapter_folder(root: Path, weights: str = "w" * 4096) -> Path:
    """A folder with an adapter-like weights file and a tokenizer file."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "adapter_model.safetensors").write_text(weights)
    (root / "tokenizer.json").write_text('{"version": "1.0"}')
    return root
