"""Repository-wide pytest setup: shared fixtures and an offline environment."""

import os

# Nothing in a test may reach the internet: model hubs and telemetry stay off.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Fixtures shared across suites (myretail_testkit.plugin): SeaweedFS (S3), Chromium, and
# the tiny model with a real adapter published by the fine-tune code — trained once per
# run and used by the fine-tune, inference, RAG and browser end-to-end tests alike.
pytest_plugins = ["myretail_testkit.plugin"]
