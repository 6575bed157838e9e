"""Repository-wide pytest setup: shared fixtures and an offline environment."""

import os

# Nothing in a test may reach the internet: model hubs and telemetry stay off.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# Session fixtures shared across suites: SeaweedFS (S3) and the tiny model with a real
# adapter published by the fine-tune code (built once per run, used by every service).
pytest_plugins = ["myretail_testkit.plugin"]
