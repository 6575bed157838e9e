"""Where the repository keeps the data the tests, the demo and the benchmarks use.

The testkit is installed editable from the repository (never into an image), so the
repository root is found from this file; nothing searches the current directory.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]
DATA = REPO_ROOT / "data"
CATALOG_CSV = DATA / "catalog.csv"
LOYALTY_TRAIN = DATA / "loyalty_qa_train.jsonl"
LOYALTY_VAL = DATA / "loyalty_qa_val.jsonl"
POLICY = REPO_ROOT / "docs" / "myelite-program.md"

if not CATALOG_CSV.is_file():  # an install outside the repository: fail loudly, not later
    raise RuntimeError(f"myretail_testkit must be installed editable from the repository: {DATA}")


def tiny_base_args() -> list[str]:
    """The ``make-tiny-base`` input flags that build the tiny base from the project's data."""
    return [
        "--catalog",
        str(CATALOG_CSV),
        "--policy",
        str(POLICY),
        "--qa",
        str(LOYALTY_TRAIN),
        "--qa",
        str(LOYALTY_VAL),
    ]
