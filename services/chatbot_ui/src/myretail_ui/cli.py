"""``myretail-ui``: serve the chatbot UI (settings from the environment)."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from myretail_common.http import run_server
from myretail_common.logs import configure_logging
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
    except ValueError as exc:  # pydantic's ValidationError included
        print(f"error: invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    from myretail_ui.app import create_app

    try:
        app = create_app(settings)
    except ValueError as exc:  # e.g. an endpoint that is not an http(s) URL
        print(f"error: {exc}", file=sys.stderr)
        return 2
    logger.info(
        "serving the chatbot UI",
        extra={
            "port": settings.port,
            "rag_api_endpoint": settings.rag_api_endpoint,
            "inference_api_endpoint": settings.inference_api_endpoint,
        },
    )
    run_server(app, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
