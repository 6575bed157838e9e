"""GitHub Actions workflows and the ci/ scripts they call."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import REPO, SERVICES, Terraform

WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))


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
    """ci/build-images.sh builds every Dockerfile into the repository Terraform created."""
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
        dockerfile = words[words.index("--file") + 1]
        tag = words[words.index("--tag") + 1]
        assert "--push" in words and words[-1] == "."
        built[dockerfile] = tag
    expected = {
        image["dockerfile"]: "123456789012.dkr.ecr.us-west-2.amazonaws.com/"
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
    assert "--build-arg CUDA_IMAGE=ubuntu:24.04" in inference
    assert "--build-arg TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu" in inference
    assert "--tag myretail/inference:e2e" in inference and "--load" in inference
    assert "--build-arg" not in rag_api
