"""GitHub Actions workflows, the ci/ scripts they call and the Makefile targets those run."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO, SERVICES, Terraform

WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
# every folder of tests: services/<part>/tests and tests/<part>
TEST_FOLDERS = {
    folder.parent.name if folder.name == "tests" else folder.name: folder
    for folder in [*REPO.glob("services/*/tests"), *REPO.glob("tests/*")]
    if folder.is_dir() and any(folder.rglob("test_*.py"))
}


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads the bare key `on` as True
    return workflow.get("on") or workflow[True]


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def run_lines(workflow: dict[str, Any]) -> str:
    return "\n".join(step.get("run", "") for step in steps(workflow))


def test_expected_workflows() -> None:
    assert {p.name for p in WORKFLOW_FILES} >= {"ci.yml", "release.yml", "e2e.yml"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_workflow_is_valid(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text())
    assert workflow["name"]
    assert triggers(workflow)
    assert workflow["jobs"]
    for job_name, job in workflow["jobs"].items():
        assert "runs-on" in job or "uses" in job, job_name
        for step in job.get("steps", []):
            assert ("run" in step) != ("uses" in step), (job_name, step)
            if "uses" in step:
                # actions pinned to a release, never a moving branch
                assert re.fullmatch(r"[\w.-]+/[\w./-]+@v\d+(\.\d+)*", step["uses"]), step["uses"]


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_called_scripts_exist_and_are_executable(path: Path) -> None:
    workflow = yaml.safe_load(path.read_text())
    scripts = set(re.findall(r"\b(ci/[\w.-]+\.sh)\b", run_lines(workflow)))
    for job in workflow["jobs"].values():
        if isinstance(job.get("uses"), str) and job["uses"].startswith("./"):
            assert (REPO / job["uses"]).is_file(), job["uses"]
    for script in scripts:
        file = REPO / script
        assert file.is_file(), f"{path.name} calls {script}, which does not exist"
        assert os.access(file, os.X_OK), f"{script} is not executable (chmod +x)"


def test_ci_runs_make_test_on_every_push() -> None:
    workflow = load("ci.yml")
    on = triggers(workflow)
    assert "push" in on and "pull_request" in on
    assert "ci/test.sh" in run_lines(workflow)
    assert "make test" in (REPO / "ci" / "test.sh").read_text()


def test_ci_runs_one_job_per_part() -> None:
    """lint plus one job per test folder, each through ci/test.sh, so a failure names its part."""
    (job,) = load("ci.yml")["jobs"].values()
    parts = job["strategy"]["matrix"]["part"]
    assert job["strategy"]["fail-fast"] is False
    assert "matrix.part" in job["name"]
    assert parts[0] == "lint" and len(parts) == len(set(parts))
    assert set(parts) - {"lint"} == set(TEST_FOLDERS), "ci.yml's matrix misses a test folder"
    assert 'ci/test.sh "${{ matrix.part }}"' in run_lines(load("ci.yml"))


def test_workflows_set_no_package_index() -> None:
    """The Makefile brings PyTorch's CPU index itself, so CI installs as a user's machine does."""
    for path in WORKFLOW_FILES:
        assert "PIP_EXTRA_INDEX_URL" not in path.read_text(), path.name
        assert "download.pytorch.org" not in path.read_text(), path.name


# the environment of a make run started by a test, without what an outer `make test` passes on
CLEAN_ENV = {
    key: value
    for key, value in os.environ.items()
    if key not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "CHROMIUM_PATH", "PYTHON"}
}


def stand_ins(folder: Path, *names: str) -> dict[str, str]:
    """An environment whose PATH starts with stand-ins for the named commands, which record
    how they were called in $CALLS; the `id` stand-in answers $FAKE_UID (1000 unless set)."""
    log = folder / "calls.log"
    for name in names:
        answer = "${FAKE_UID:-1000}" if name == "id" else ""
        script = folder / name
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> {log}\necho "{answer}"\n')
        script.chmod(0o755)
    return {**CLEAN_ENV, "PATH": f"{folder}:{os.environ['PATH']}", "CALLS": str(log)}


def calls(env: dict[str, str]) -> list[str]:
    log = Path(env["CALLS"])
    return log.read_text().splitlines() if log.exists() else []


@pytest.mark.parametrize(
    ("args", "make_args"),
    [([], "make test"), (["lint"], "make lint"), (["rag_api"], "make test-rag_api")],
)
def test_ci_test_script_runs_the_make_target_of_a_part(
    tmp_path: Path, args: list[str], make_args: str
) -> None:
    env = stand_ins(tmp_path, "make")
    subprocess.run([str(REPO / "ci" / "test.sh"), *args], env=env, check=True, timeout=60)
    assert calls(env) == [make_args]


def run_make(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(REPO), *args],
        capture_output=True,
        text=True,
        env=env or CLEAN_ENV,
        check=False,
        timeout=60,
    )


def make_targets() -> tuple[set[str], set[str]]:
    """(every target a user can run, the .PHONY ones), from make's own database."""
    database = run_make("-pRrq").stdout.split("\n# Files\n", 1)[1]
    targets, phony = set(), set()
    for entry in database.split("\n\n"):
        lines = entry.strip().splitlines()
        if not lines or lines[0].startswith("#"):  # "# Not a target:", statistics
            continue
        name, _, prerequisites = lines[0].partition(":")
        if name == ".PHONY":
            phony = set(prerequisites.split())
        elif not name.startswith(".") and "/" not in name:  # not stamps like .venv/.installed
            targets.add(name)
    return targets, phony


def test_make_help_lists_every_target() -> None:
    targets, phony = make_targets()
    assert targets == phony, "a Makefile target that is not .PHONY"
    result = run_make("help")
    assert result.returncode == 0, result.stderr
    entries = [line.split(maxsplit=1) for line in result.stdout.splitlines() if line[:2] == "  "]
    assert {name for name, _ in entries} == targets
    assert all(len(description) > 10 for _, description in entries), entries
    assert {f"test-{part}" for part in TEST_FOLDERS} <= targets
    assert {"demo", "test", "lint", "lock", "env", "system-deps"} <= targets


def test_make_checks_the_python_version_up_front() -> None:
    assert run_make("check-python", f"PYTHON={sys.executable}").returncode == 0
    unsupported = run_make(
        "check-python", f"PYTHON={sys.executable}", "SUPPORTED_PYTHONS=3.98 3.99"
    )
    assert unsupported.returncode != 0
    found = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"is Python {found}; this project supports Python 3.98 or 3.99" in unsupported.stderr
    missing = run_make("check-python", "PYTHON=no-such-python3")
    assert missing.returncode != 0 and "no-such-python3 not found" in missing.stderr


def test_readme_states_the_supported_python_versions() -> None:
    (line,) = [
        line
        for line in (REPO / "Makefile").read_text().splitlines()
        if line.startswith("SUPPORTED_PYTHONS :=")
    ]
    versions = line.split(":=")[1].split()
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in versions
    quick_start = (REPO / "README.md").read_text().split("## Quick start", 1)[1].split("\n## ")[0]
    assert f"Python {' or '.join(versions)}" in quick_start


# one program that is there, one that is missing
SYSTEM_PROGRAMS = "SYSTEM_PROGRAMS=sh:dash /nonexistent/chromium:chromium"


@pytest.fixture
def fake_commands(tmp_path: Path) -> dict[str, str]:
    """What system-deps may run, recorded instead of run: sudo, apt-get and `id -u`."""
    return stand_ins(tmp_path, "sudo", "apt-get", "id")


def test_system_deps_without_root_prints_the_apt_command(fake_commands: dict[str, str]) -> None:
    result = run_make("system-deps", SYSTEM_PROGRAMS, env=fake_commands)
    assert result.returncode != 0
    assert "missing Debian packages: chromium" in result.stderr
    command = "sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium"
    assert command in result.stderr
    assert [c for c in calls(fake_commands) if not c.startswith("id")] == []


def test_system_deps_as_root_installs_what_is_missing(fake_commands: dict[str, str]) -> None:
    env = {**fake_commands, "FAKE_UID": "0"}
    result = run_make("system-deps", SYSTEM_PROGRAMS, env=env)
    assert result.returncode == 0, result.stderr
    assert [c for c in calls(env) if not c.startswith("id")] == [
        "apt-get update -qq",
        "apt-get install -y --no-install-recommends chromium -qq",
    ]


def test_system_deps_installs_nothing_when_all_is_there(fake_commands: dict[str, str]) -> None:
    result = run_make("system-deps", "SYSTEM_PROGRAMS=sh:dash", env=fake_commands)
    assert result.returncode == 0, result.stderr
    assert calls(fake_commands) == []


def test_release_pushes_images_on_tags() -> None:
    workflow = load("release.yml")
    assert triggers(workflow)["push"]["tags"] == ["v*"]
    jobs = workflow["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    images = jobs["images"]
    assert images["needs"] == "test"
    assert images["permissions"]["id-token"] == "write"
    assert set(images["strategy"]["matrix"]["service"]) == set(SERVICES)
    uses = [s.get("uses", "") for s in images["steps"]]
    assert any(u.startswith("aws-actions/configure-aws-credentials@") for u in uses)
    assert any(u.startswith("aws-actions/amazon-ecr-login@") for u in uses)
    (build,) = [s for s in images["steps"] if "ci/build-images.sh" in s.get("run", "")]
    assert build["env"]["PUSH"] == "true"
    assert build["env"]["IMAGE_TAG"] == "${{ github.ref_name }}"
    assert "steps.ecr.outputs.registry" in build["env"]["REGISTRY"]


def test_e2e_runs_the_kind_script() -> None:
    workflow = load("e2e.yml")
    assert "ci/kind-e2e.sh" in run_lines(workflow)


@pytest.mark.parametrize("script", sorted((REPO / "ci").glob("*.sh")), ids=lambda p: p.name)
def test_scripts_are_valid_bash(script: Path) -> None:
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash")


def test_build_images_matches_ecr_repositories(terraform: Terraform) -> None:
    """ci/build-images.sh builds every image target into the repository Terraform created."""
    env = {
        **os.environ,
        "DRY_RUN": "true",
        "PUSH": "true",
        "REGISTRY": "123456789012.dkr.ecr.us-west-2.amazonaws.com",
        "IMAGE_TAG": "v9.9.9",
    }
    result = subprocess.run(
        [str(REPO / "ci" / "build-images.sh")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    )
    commands = [line.split() for line in result.stdout.splitlines() if line.startswith("docker")]
    built = {}
    for words in commands:
        assert words[words.index("--file") + 1] == terraform.locals["dockerfile"]
        target = words[words.index("--target") + 1]
        tag = words[words.index("--tag") + 1]
        assert "--push" in words and words[-1] == "."
        built[target] = tag
    expected = {
        image["target"]: "123456789012.dkr.ecr.us-west-2.amazonaws.com/"
        + image["repository"].replace("${var.name}", terraform.default("name"))
        + ":v9.9.9"
        for image in terraform.locals["images"].values()
    }
    assert built == expected


def test_build_images_refuses_mutable_tags() -> None:
    result = subprocess.run(
        [str(REPO / "ci" / "build-images.sh")],
        capture_output=True,
        text=True,
        env={**os.environ, "DRY_RUN": "true", "IMAGE_TAG": "latest"},
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "immutable" in result.stderr


def test_build_images_cpu_variant_for_kind() -> None:
    """VARIANT=cpu builds finetune/inference on plain Ubuntu with the lock's CPU torch."""
    result = subprocess.run(
        [str(REPO / "ci" / "build-images.sh"), "inference", "rag_api"],
        capture_output=True,
        text=True,
        env={**os.environ, "DRY_RUN": "true", "VARIANT": "cpu", "IMAGE_TAG": "e2e"},
        check=True,
        timeout=60,
    )
    inference, rag_api = result.stdout.splitlines()
    # What ACCELERATOR=cpu selects (plain Ubuntu, CPU torch) is checked in test_dockerfiles.py.
    assert "--build-arg ACCELERATOR=cpu" in inference
    assert "--tag myretail/inference:e2e" in inference and "--load" in inference
    assert "--build-arg" not in rag_api
