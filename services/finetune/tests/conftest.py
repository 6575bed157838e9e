"""Fixtures of the fine-tune suite.

The shared ones (``tiny_base``, ``published_adapter``, ``restore_logging``) live in
``myretail_testkit.plugin``, registered as a plugin by the repository's conftest.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

ENV_VARS = (
    "MODEL_STORE_URI",
    "MODEL_ASSETS_BUCKET",
    "S3_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "TRAIN_DATASET_FILE",
    "EVAL_DATASET_FILE",
    "BASE_MODEL",
    "MODEL_NAME",
    "MODEL_TAG",
    "FINETUNE_PROFILE",
    "FINETUNE_METHOD",
    "CHECKPOINT_DIR",
    "MODEL_CACHE_DIR",
    "FINETUNE_CONFIG",
    "MIN_EVAL_ACCURACY",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN",
    "LEARNING_RATE",
    "MAX_STEPS",
    "BATCH_SIZE",
    "METRICS_FILE",
    "LOG_FORMAT",
    "LOG_LEVEL",
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No fine-tune or store variable leaks in from the developer's shell."""
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.fixture(scope="session")
def project_root() -> Path:
    from myretail_testkit.project_files import REPO_ROOT

    return REPO_ROOT
