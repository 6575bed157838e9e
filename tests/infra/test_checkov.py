"""checkov (terraform framework) passes on infra-terraform/ with only documented skips.

One checkov run for the whole module. Project-wide skips live in infra-terraform/.checkov.yaml
(one per line, reason after "#"); single-resource skips are inline
`#checkov:skip=<id>:<reason>` comments. Every skip needs a reason.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from myretail_testkit.checkov import NOT_FOUND, checkov_bin, run_checkov

from .conftest import TF_DIR

CONFIG = TF_DIR / ".checkov.yaml"
MIN_REASON = 20  # characters: a reason, not a placeholder


@pytest.fixture(scope="module")
def checkov_report() -> dict[str, Any]:
    binary = checkov_bin()
    if binary is None:
        pytest.fail(NOT_FOUND)
    run = run_checkov(
        binary,
        TF_DIR,
        "terraform",
        "--config-file",
        str(CONFIG),
        "--download-external-modules",
        "false",
        timeout=300,
    )
    assert run.returncode in (0, 1), f"checkov crashed ({run.returncode}): {run.stderr}"
    report = run.report()
    report["_returncode"] = run.returncode
    return report


def config_skips() -> dict[str, str]:
    """check id -> reason, from the `skip-check` list of .checkov.yaml."""
    text = CONFIG.read_text(encoding="utf-8")
    listed = yaml.safe_load(text).get("skip-check") or []
    reasons = dict(re.findall(r"(?m)^\s*-\s*(CKV2?_\w+)\s*#\s*(.*\S)\s*$", text))
    missing = [check for check in listed if check not in reasons]
    assert not missing, f".checkov.yaml skips without a reason: {missing}"
    return {check: reasons[check] for check in listed}


def inline_skips() -> list[tuple[str, str, str]]:
    """(file, check id, reason) of every #checkov:skip comment in the .tf files."""
    found = []
    for path in sorted(TF_DIR.glob("*.tf")):
        for match in re.finditer(r"#\s*checkov:skip=([^:\s]+)(?::(.*))?", path.read_text()):
            found.append((path.name, match.group(1), (match.group(2) or "").strip()))
    return found


def test_checkov_has_no_failed_checks(checkov_report: dict[str, Any]) -> None:
    results = checkov_report["results"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}:{c['file_line_range']}): "
        f"{c['check_name']}"
        for c in results.get("failed_checks", [])
    ]
    assert not failed, "checkov failures:\n" + "\n".join(failed)
    assert checkov_report["_returncode"] == 0
    # it really scanned this module
    assert checkov_report["summary"]["passed"] >= 100
    resources = {c["resource"] for c in results["passed_checks"]}
    assert "aws_s3_bucket.model_assets" in resources
    assert any(r.startswith("aws_ecr_repository.service") for r in resources)


def test_every_skip_is_documented(checkov_report: dict[str, Any]) -> None:
    for check, reason in config_skips().items():
        assert len(reason) >= MIN_REASON, f"{check}: reason too short: {reason!r}"
    for file, check, reason in inline_skips():
        assert len(reason) >= MIN_REASON, f"{file}: {check} skipped without a reason"

    # everything checkov reports as skipped is one of the inline, reasoned skips
    inline = {check for _, check, _ in inline_skips()}
    for skipped in checkov_report["results"].get("skipped_checks", []):
        assert skipped["check_id"] in inline, skipped["check_id"]
        assert len((skipped.get("check_result") or {}).get("suppress_comment", "")) >= MIN_REASON


def test_skip_list_is_short() -> None:
    """Skips are exceptions: keep an eye on the list growing."""
    assert len(config_skips()) <= 3
    assert len({check for _, check, _ in inline_skips()}) <= 8
