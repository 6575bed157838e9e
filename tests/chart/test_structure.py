"""The chart's shape: nested subcharts listed as dependencies, one shared library of named
templates (no private copies), one concern per template file, and the scripts and docs
that go with it."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from chart_render import (
    CHART,
    ENVS,
    LIBRARY,
    REPO,
    cached_env_render,
    chart_defaults,
    chart_dependencies,
)

SUBCHARTS = sorted(p.parent for p in (CHART / "charts").glob("*/Chart.yaml"))
PROJECT_IMAGES = {"finetune", "inference", "rag-api", "catalog-restore", "chatbot-ui"}
DEFINE = re.compile(r"\{\{-?\s*define\s+\"([^\"]+)\"")


def _chart(folder: Path) -> dict:
    return yaml.safe_load((folder / "Chart.yaml").read_text())


def test_every_nested_subchart_is_a_listed_dependency() -> None:
    listed = {d["name"]: d for d in chart_dependencies()}
    assert set(listed) == {folder.name for folder in SUBCHARTS}
    for folder in SUBCHARTS:
        meta, dep = _chart(folder), listed[folder.name]
        assert meta["name"] == folder.name
        assert dep["version"] == meta["version"], folder.name
        assert "repository" not in dep, "vendored: nothing to download"
        if meta.get("type") == "library":
            assert "condition" not in dep
        else:
            key = dep.get("alias", dep["name"])
            assert dep["condition"] == f"{key}.enabled"
            assert "enabled" in chart_defaults()[key], f"{key}.enabled has no default"


def test_named_templates_live_only_in_the_library() -> None:
    defined: dict[str, Path] = {}
    for path in CHART.rglob("*"):
        if (
            path.suffix not in {".tpl", ".yaml", ".txt"}
            or "/tests/" in f"/{path.relative_to(CHART)}/"
        ):
            continue
        for name in DEFINE.findall(path.read_text()):
            assert name not in defined, f"{name} defined twice"
            defined[name] = path
            assert LIBRARY in path.parts, f"{name} is defined in {path}: move it to {LIBRARY}"
            assert name.startswith("myretail."), name
    assert len(defined) >= 20


def test_library_is_a_library_and_subcharts_use_it() -> None:
    assert _chart(CHART / "charts" / LIBRARY)["type"] == "library"
    for folder in SUBCHARTS:
        if folder.name == LIBRARY:
            continue
        templates = " ".join(p.read_text() for p in (folder / "templates").glob("*.yaml"))
        assert 'include "myretail.metadata"' in templates, folder.name
        assert (folder / "templates" / "serviceaccount.yaml").is_file(), folder.name
        assert (folder / "templates" / "networkpolicy.yaml").is_file(), folder.name


def test_image_versions() -> None:
    umbrella = _chart(CHART)
    for folder in SUBCHARTS:
        meta = _chart(folder)
        if folder.name in PROJECT_IMAGES:
            assert meta["appVersion"] == umbrella["appVersion"], folder.name
    for name in ("qdrant", "redis"):
        image = yaml.safe_load((CHART / "charts" / name / "values.yaml").read_text())["image"]
        assert image["tag"].startswith(str(_chart(CHART / "charts" / name)["appVersion"])), name


@pytest.mark.parametrize("env", ["defaults", *ENVS])
def test_one_object_per_template_file(env: str) -> None:
    for template, text in cached_env_render(env).manifests.items():
        documents = [d for d in yaml.safe_load_all(text) if d] if template.endswith(".yaml") else []
        assert len(documents) <= 1, f"{template} renders {len(documents)} objects"


def test_kind_e2e_script() -> None:
    script = REPO / "ci" / "kind-e2e.sh"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert os.access(script, os.X_OK), "chmod +x ci/kind-e2e.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)
    for needed in (
        "kind create cluster",
        "kind load docker-image",
        "-f values/dev.yaml",
        "helm test",
    ):
        assert needed in text, needed
    build = re.search(r"ci/build-images\.sh ([\w ]+)", text)
    assert build, "build the images with the project's build script"
    assert set(build.group(1).split()) == {"finetune", "inference", "rag_api", "chatbot_ui"}
    # Day 0 as docs/aws.md gives it: no adapter before the install, the first catalog
    # snapshot from the CSV (portable), one install that fine-tunes the served tag, --wait.
    assert " train " not in text and "--model-tag" not in text, "no adapter before day 0"
    export = re.search(r"myretail-catalog export --from-csv \S+ --to (\S+)", text)
    assert export and not export.group(1).endswith(".snapshot")
    install = text[text.index("\nhelm install") :].split("\n\n")[0]
    for flag in ("--set finetune.enabled=true", "--set finetune.model.tag=tiny", "--wait"):
        assert flag in install, flag
    assert text.index("\nhelm install") < text.index("\nhelm test")


def test_deploy_doc_names_real_values() -> None:
    doc = (REPO / "docs" / "deploy.md").read_text()
    for command in ("helm install", "helm upgrade", "--set inference.model.tag=", "helm test"):
        assert command in doc, command
    keys = re.findall(r"^\| `([a-zA-Z][\w.]*)` \|", doc, flags=re.MULTILINE)
    assert len(keys) >= 15, "the doc has a table of the main values"
    defaults = chart_defaults()
    for key in keys:
        node = defaults
        for part in key.split("."):
            assert isinstance(node, dict) and part in node, f"docs/deploy.md names {key}"
            node = node[part]
