"""``myretail-ui``: serve the chatbot UI (settings from the environment)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from pydantic import ValidationError

from myretail_common.http import run_server
from myretail_common.logs import configure_logging
from myretail_common.ports import PortInUseError, ensure_port_free
from myretail_common.settings import describe_invalid_settings
from myretail_ui.settings import UISettings

logger = logging.getLogger("myretail_ui")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="myretail-ui",
        description="Serve the MyRetail chatbot UI. Configured by environment variables: "
        "PORT (7860), RAG_API_ENDPOINT, INFERENCE_API_ENDPOINT (or the book's name "
        "FINETUNE_API_ENDPOINT); see docs/contracts.md.",
    )
    parser.parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        settings = UISettings()
    except ValidationError as exc:  # never the values: they may be secrets
        print(f"error: invalid settings: {describe_invalid_settings(exc)}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    from myretail_ui.app import create_app

    try:
        app = create_app(settings)
    except ValueError as exc:  # e.g. an endpoint that is not an http(s) URL
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        ensure_port_free(settings.port, "PORT")
        if settings.metrics_port is not None:
            ensure_port_free(settings.metrics_port, "METRICS_PORT")
    except PortInUseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    logger.info(
        "serving the chatbot UI",
        extra={
            "port": settings.port,
            "metrics_port": settings.metrics_port,
            "rag_api_endpoint": settings.rag_api_endpoint,
            "inference_api_endpoint": settings.inference_api_endpoint,
        },
    )
    run_server(app, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
