"""checkov, the infrastructure-as-code scanner that the chart and Terraform tests run.

checkov lives in its own virtualenv (.venv-checkov: its pins clash with the project's), so the
tests look for its executable instead of importing it, and run it as a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myretail_testkit.project_files import REPO_ROOT

NOT_FOUND = (
    "checkov not found: set CHECKOV_BIN, or create .venv-checkov "
    "(make env / python3 -m venv .venv-checkov && .venv-checkov/bin/pip install "
    "-r requirements/checkov.txt)"
)


def checkov_bin() -> str | None:
    """CHECKOV_BIN, then the project's .venv-checkov, then checkov on PATH."""
    candidates = [
        os.environ.get("CHECKOV_BIN"),
        str(REPO_ROOT / ".venv-checkov" / "bin" / "checkov"),
        shutil.which("checkov"),
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


@dataclass(frozen=True)
class CheckovRun:
    """One checkov run: exit code 0 (all passed) or 1 (failed checks); anything else crashed."""

    framework: str
    returncode: int
    stdout: str
    stderr: str

    def report(self) -> dict[str, Any]:
        """The JSON report of this run's framework (checkov prints one per framework it ran)."""
        report = json.loads(self.stdout)
        if isinstance(report, list):
            (report,) = [r for r in report if r.get("check_type") == self.framework]
        if not isinstance(report, dict):
            raise ValueError(f"unexpected checkov report: {self.stdout[:200]}")
        return report


def run_checkov(
    binary: str, directory: Path, framework: str, *options: str, timeout: float = 600
) -> CheckovRun:
    """Scan one directory with one framework, offline, for a JSON report.

    ``options`` go through as they are (for example ``--config-file``); the run starts in the
    repository root so that paths in the report are relative to it.
    """
    command = [
        binary,
        "--directory",
        str(directory),
        "--framework",
        framework,
        "--skip-download",
        "--output",
        "json",
        *options,
    ]
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT, check=False
    )
    return CheckovRun(framework, result.returncode, result.stdout, result.stderr)
