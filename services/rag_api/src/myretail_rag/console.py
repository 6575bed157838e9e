"""What both console scripts (``myretail-rag``, ``myretail-catalog``) do before their work.

Exit codes: 0 done; 1 a dependency failed (Qdrant down, storage unreachable, a port in
use) or the result did not verify; 2 invalid input (CSV, source, snapshot, settings,
embeddings that do not match).
"""

from __future__ import annotations

import os
import sys

from pydantic import ValidationError

from myretail_common.logs import register_secret
from myretail_common.settings import describe_invalid_settings
from myretail_rag.settings import RagSettings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2


def print_error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr, flush=True)


def start_process() -> RagSettings | None:
    """Prepare the process and read the settings (their secrets masked in every log line);
    None, after saying why on stderr, when the settings are invalid."""
    # Idle OpenMP threads sleep instead of spin (set before torch loads). Spinning threads
    # collapse on a busy machine: with another process on the cores, a query embedding
    # measured 500 ms instead of 12 ms, and batch embedding ran 3x slower.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # numpy's BLAS (embedded Qdrant's distances, vector normalising) on one thread: its
    # small products gain nothing from more, and its spinning threads took cores from the
    # embedding model (a search in embedded Qdrant: 2.7 ms with them, 1.1 ms without).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        settings = RagSettings()
    except ValidationError as exc:  # never the values: they may be secrets
        print_error(f"invalid settings: {describe_invalid_settings(exc)}")
        return None
    except ValueError as exc:
        print_error(f"invalid settings: {exc}")
        return None
    for secret in (
        settings.openai_api_key,
        settings.qdrant_api_key,
        settings.admin_token,
        settings.aws_secret_access_key,
    ):
        if secret is not None:
            register_secret(secret.get_secret_value())
    return settings
