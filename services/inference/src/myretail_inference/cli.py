"""``myretail-inference``: serve the model named by the settings over HTTP.

The tags (MODEL_TAG, and CANARY_TAG when set) are checked in the model store first, so
a missing tag fails in a second with a clear message (exit code 1). The server then
starts at once (``/healthz`` answers), loads and warms the model in the background (with
``ENGINE=remote``: only the tokenizer), and ``/readyz`` turns ready after warm-up. A model
that fails to load ends the process with exit code 1. SIGTERM drains
(:mod:`myretail_inference.drain`).
"""

from __future__ import annotations

import argparse
import sys

from myretail_common.logs import configure_logging, register_secret
from myretail_common.model_store import ModelStore
from myretail_common.ports import PortInUseError, ensure_port_free
from myretail_common.storage import StorageError
from myretail_inference.settings import InferenceSettings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="myretail-inference",
        description="Serve the fine-tuned Loyalty model (settings from the environment).",
    )
    parser.add_argument("--host", help="listen address (default: HOST)")
    parser.add_argument("--port", type=int, help="listen port (default: PORT, 8000)")
    parser.add_argument("--model-tag", help="published tag to serve (default: MODEL_TAG)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = InferenceSettings()
    except ValueError as exc:
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    overrides = {
        key: value
        for key, value in {
            "host": args.host,
            "port": args.port,
            "model_tag": args.model_tag,
        }.items()
        if value is not None
    }
    settings = settings.model_copy(update=overrides)
    configure_logging(settings.log_level, settings.log_format)
    for secret in (settings.aws_secret_access_key, settings.hugging_face_hub_token):
        if secret is not None:
            register_secret(secret.get_secret_value())

    if not settings.model_tag:
        print("error: MODEL_TAG is not set: name the published model tag to serve", file=sys.stderr)
        return 1
    try:
        store = ModelStore.from_settings(settings)
        for tag in settings.tags:
            store.read_manifest(settings.model_name, tag)
        ensure_port_free(settings.port, "PORT")
    except (StorageError, ValueError, PortInUseError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    from myretail_inference.app import create_app
    from myretail_inference.drain import run_draining_server
    from myretail_inference.loader import ModelLoadError, configure_cpu_threads

    if settings.engine == "native":
        try:
            configure_cpu_threads(settings)
        except ModelLoadError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    app = create_app(settings, exit_on_load_failure=True)
    run_draining_server(app, settings, app.state.drain)
    return 0
