"""Scanning a chart render the way the chart tests do, for tests that render their own values.

:func:`checkov_failures` writes each rendered object to its own file, runs checkov
(kubernetes framework) on the folder and returns its failed checks; the caller filters them
through the chart's reasoned skip list. :func:`render_with_api_versions` renders like
``helm template --api-versions ...``, for templates guarded by a capabilities check.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from myretail_testkit.checkov import NOT_FOUND, checkov_bin, run_checkov


def checkov_report(objects: Iterable[dict[str, Any]], folder: Path) -> dict[str, Any]:
    """checkov's JSON report on ``objects``; skips the test (fails it on CI) without checkov."""
    binary = checkov_bin()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(NOT_FOUND)
        pytest.skip(NOT_FOUND)
    import yaml

    for i, obj in enumerate(objects):
        name = f"{i:03d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        (folder / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    run = run_checkov(binary, folder, "kubernetes", timeout=600)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    report: dict[str, Any] = run.report()
    assert report["summary"]["parsing_errors"] == 0 and report["summary"]["passed"] > 100
    return report


def checkov_failures(objects: Iterable[dict[str, Any]], folder: Path) -> list[dict[str, Any]]:
    """checkov's failed checks on ``objects`` (see :func:`checkov_report`)."""
    failed: list[dict[str, Any]] = checkov_report(objects, folder)["results"]["failed_checks"]
    return failed


def render_with_api_versions(
    chart_dir: Path,
    values: dict[str, Any],
    api_versions: list[str],
    *,
    release: str,
    namespace: str,
) -> dict[str, str]:
    """template name -> manifest, rendered as an install on a cluster offering these APIs
    (``helm_python.Chart.render`` has no api_versions; its engine takes them)."""
    import helm_python as helm
    from helm_python import _native

    options = {"name": release, "namespace": namespace, "is_install": True, "revision": 1}
    with helm.Chart.load(chart_dir) as chart:
        manifests = _native.call_string(
            "helm_render",
            chart._raw(),
            json.dumps(values),
            json.dumps({**options, "api_versions": api_versions}),
        )
    rendered: dict[str, str] = json.loads(manifests)
    return rendered
