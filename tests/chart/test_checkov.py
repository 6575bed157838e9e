"""checkov (kubernetes framework) on the prod render: no failed check except the skip list
kept in the chart (charts/myretail/checkov-skips.yaml), each entry with a reason."""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from chart_render import CHART, cached_env_render

from myretail_testkit.checkov import NOT_FOUND, checkov_bin, run_checkov

SKIPS_FILE = CHART / "checkov-skips.yaml"


def _skips() -> list[dict[str, Any]]:
    return yaml.safe_load(SKIPS_FILE.read_text())["skips"]


@pytest.fixture(scope="module")
def checkov_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    binary = checkov_bin()
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail(NOT_FOUND)
        pytest.skip(NOT_FOUND)
    folder: Path = tmp_path_factory.mktemp("prod-render")
    for i, obj in enumerate(cached_env_render("prod").objects):
        name = f"{i:03d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        (folder / name).write_text(yaml.safe_dump(obj, sort_keys=False))
    run = run_checkov(binary, folder, "kubernetes", timeout=600)
    assert run.returncode in (0, 1), run.stderr[-2000:]
    report = json.loads(run.stdout)
    assert isinstance(report, dict), "one framework gives one report"
    return report


def _covered(check: dict[str, Any], skip: dict[str, Any]) -> bool:
    if check["check_id"] != skip["id"]:
        return False
    globs = skip.get("resources")
    return globs is None or any(fnmatch.fnmatchcase(check["resource"], g) for g in globs)


def test_every_skip_has_a_reason() -> None:
    for skip in _skips():
        assert set(skip) <= {"id", "reason", "resources"}, skip
        assert skip["id"].startswith("CKV"), skip
        assert len(str(skip.get("reason", "")).split()) >= 5, f"{skip['id']} needs a reason"


def test_scan_covers_the_whole_prod_render(checkov_report: dict[str, Any]) -> None:
    summary = checkov_report["summary"]
    assert summary["parsing_errors"] == 0
    assert summary["resource_count"] >= len(cached_env_render("prod").objects) - 5
    assert summary["passed"] > 100


def test_no_failed_check_outside_the_skip_list(checkov_report: dict[str, Any]) -> None:
    skips = _skips()
    unexpected = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in checkov_report["results"]["failed_checks"]
        if not any(_covered(c, s) for s in skips)
    ]
    assert unexpected == [], "\n".join(unexpected)


def test_skip_list_has_no_stale_entries(checkov_report: dict[str, Any]) -> None:
    failed = checkov_report["results"]["failed_checks"]
    stale = [s["id"] for s in _skips() if not any(_covered(c, s) for c in failed)]
    assert stale == [], f"skips that match no finding any more (remove them): {stale}"
