"""Every subchart stands on its own: it declares the library chart as a dependency (reached
through a link to the umbrella's copy, so there is one set of templates and no dependency
step), renders and lints alone with the umbrella's shared settings, renders there exactly
what the umbrella renders for it, and packages with the library inside. The library reads
only the values of the chart that includes it."""

from __future__ import annotations

import functools
import json
import re
import tarfile
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from chart_render import (
    CHART,
    ENVS,
    LIBRARY,
    LIBRARY_DIR,
    NAMESPACE,
    RELEASE,
    Rendered,
    cached_env_render,
    chart_defaults,
    component_charts,
    deep_merge,
    install_values,
    lint_problems,
    render,
)

TEMPLATE_COMMENT = re.compile(r"\{\{-?\s*/\*.*?\*/\s*-?\}\}", re.DOTALL)
COMPONENTS = component_charts()
# Switches every component on, so each subchart has something to compare.
ALL_ON = {
    "finetune": {"enabled": True, "model": {"tag": "v2"}},
    "redis": {"enabled": True},
}


def _chart_yaml(folder: Path) -> dict[str, Any]:
    return yaml.safe_load((folder / "Chart.yaml").read_text())


def _umbrella_values(env: str) -> dict[str, Any]:
    return deep_merge(install_values(env), ALL_ON)


@functools.cache
def _umbrella_render(env: str) -> Rendered:
    return render(_umbrella_values(env))


def _standalone_values(env: str, key: str) -> dict[str, Any]:
    """What the umbrella hands the subchart: its own section and the shared globals."""
    values = _umbrella_values(env)
    own = {k: v for k, v in (values.get(key) or {}).items() if k != "enabled"}
    return {**own, "global": deep_merge(chart_defaults()["global"], values.get("global") or {})}


def _objects_by_template(rendered: Rendered, prefix: str) -> dict[str, list[str]]:
    """templates/<file> -> its objects (as sorted JSON), for the templates under prefix."""
    found: dict[str, list[str]] = {}
    for template, text in rendered.manifests.items():
        if not template.startswith(prefix):
            continue
        documents = [json.dumps(d, sort_keys=True) for d in yaml.safe_load_all(text) if d]
        if documents:
            found[template.removeprefix(prefix)] = sorted(documents)
    return found


@pytest.mark.parametrize("key", sorted(COMPONENTS))
def test_subchart_depends_on_the_library_through_one_link(key: str) -> None:
    folder = COMPONENTS[key]
    library_version = _chart_yaml(LIBRARY_DIR)["version"]
    assert _chart_yaml(folder)["dependencies"] == [{"name": LIBRARY, "version": library_version}], (
        "the library, vendored: no repository, nothing to download"
    )
    link = folder / "charts" / LIBRARY
    assert link.is_symlink(), f"{link} must link to the umbrella's library, not copy it"
    assert link.resolve() == LIBRARY_DIR.resolve()
    assert [p.name for p in (folder / "charts").iterdir()] == [LIBRARY]
    statuses = {d["name"]: d["status"] for d in helm.dependency_list(folder)}
    assert statuses == {LIBRARY: "unpacked"}, "present, so no `helm dependency build`"


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("key", sorted(COMPONENTS))
def test_subchart_renders_alone_what_the_umbrella_renders_for_it(key: str, env: str) -> None:
    folder = COMPONENTS[key]
    umbrella = _objects_by_template(_umbrella_render(env), f"myretail/charts/{key}/")
    alone = _objects_by_template(
        render(_standalone_values(env, key), chart_dir=folder), f"{folder.name}/"
    )
    assert alone, f"{folder.name} rendered nothing on its own"
    # The one label that differs: Helm names an aliased subchart by its alias (ragApi).
    renamed = {
        template: sorted(
            o.replace(f'"helm.sh/chart": "{key}-', f'"helm.sh/chart": "{folder.name}-')
            for o in objects
        )
        for template, objects in umbrella.items()
    }
    assert alone == renamed


@pytest.mark.parametrize("key", sorted(COMPONENTS))
def test_subchart_lints_alone_with_the_umbrella_values_file(key: str) -> None:
    """helm lint charts/myretail/charts/<name> -f charts/myretail/values.yaml"""
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    if key == "finetune":
        values["model"] = {"tag": "v2"}
    report = helm.lint(COMPONENTS[key], values, strict=True)
    assert lint_problems(report) == [], report
    assert report["errors"] == []


def test_packaged_umbrella_carries_the_library_as_files(tmp_path: Path) -> None:
    archive = Path(helm.package(CHART, destination=tmp_path))
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
    for folder in COMPONENTS.values():
        library_chart = members.get(f"myretail/charts/{folder.name}/charts/{LIBRARY}/Chart.yaml")
        assert library_chart is not None and library_chart.isfile(), (
            f"{folder.name}: library not packaged"
        )
    with helm.Chart.load_archive(archive.read_bytes()) as chart:
        manifests = chart.render(
            install_values("prod"), name=RELEASE, namespace=NAMESPACE, is_install=True
        )
    assert Rendered(manifests).objects == cached_env_render("prod").objects


def test_packaged_subchart_renders_alone(tmp_path: Path) -> None:
    archive = Path(helm.package(COMPONENTS["ragApi"], destination=tmp_path))
    with helm.Chart.load_archive(archive.read_bytes()) as chart:
        manifests = chart.render(
            _standalone_values("prod", "ragApi"), name=RELEASE, namespace=NAMESPACE
        )
    names = {(o["kind"], o["metadata"]["name"]) for o in Rendered(manifests).objects}
    assert ("Deployment", "myretail-rag-api") in names


def test_library_reads_no_umbrella_only_values() -> None:
    """Only .Values.global and the including chart's own keys: never another component's
    section (ragApi, qdrant, ...) nor the umbrella's test settings."""
    umbrella_keys = set(yaml.safe_load((CHART / "values.yaml").read_text())) - {"global"}
    umbrella_keys |= set(COMPONENTS)
    read = {
        (path.name, key)
        for path in (LIBRARY_DIR / "templates").glob("*.tpl")
        for key in re.findall(r"\.Values\.(\w+)", TEMPLATE_COMMENT.sub("", path.read_text()))
    }
    assert {key for _, key in read} >= {"global", "resources", "serviceAccount"}, "the scan reads"
    assert sorted(r for r in read if r[1] in umbrella_keys) == []
