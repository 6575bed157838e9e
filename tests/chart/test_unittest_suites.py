"""The helm-unittest suites (charts/myretail/tests/*_test.yaml) cannot run here (the plugin
is not installable offline), so this keeps them from rotting: every template they name
exists, every values key they set exists, every values file they read exists, and their
assertions are evaluated against the real Helm render with a small interpreter of the
assertion types they use."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import helm_python as helm
import pytest
import yaml
from chart_render import (
    CHART,
    Rendered,
    chart_defaults,
    deep_merge,
    render,
    set_path,
    values_key_to_chart_dir,
)

SUITES = sorted((CHART / "tests").glob("*_test.yaml"))
FREE_FORM = {"annotations", "nodeSelector", "podLabels", "podAnnotations", "data"}
_TOKEN = re.compile(r'([^.\[\]]+)|\[(\d+)\]|\["([^"]+)"\]')
_MISSING = object()


def _suite(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def _template_file(template: str) -> Path:
    """charts/<alias or name>/templates/x.yaml or templates/x.yaml -> the file on disk."""
    parts = template.split("/")
    if parts[0] == "charts":
        folder = values_key_to_chart_dir().get(parts[1], CHART / "charts" / parts[1])
        return folder.joinpath(*parts[2:])
    return CHART / template


def _templates_of(suite: dict[str, Any], test: dict[str, Any]) -> list[str]:
    if "template" in test:
        return [test["template"]]
    return list(test.get("templates") or suite.get("templates") or [])


def _get(document: Any, path: str) -> Any:
    node = document
    for name, index, key in _TOKEN.findall(path):
        step: Any = name or key or int(index)
        if isinstance(step, int):
            if not isinstance(node, list) or step >= len(node):
                return _MISSING
        elif not isinstance(node, dict) or step not in node:
            return _MISSING
        node = node[step]
    return node


def _check(kind: str, spec: dict[str, Any], documents: list[Any]) -> None:
    if kind == "hasDocuments":
        assert len(documents) == spec["count"], f"{len(documents)} documents"
        return
    assert documents, f"{kind}: the template rendered no document"
    for document in documents:
        if kind == "isKind":
            assert document["kind"] == spec["of"]
            continue
        value = _get(document, spec["path"])
        if kind == "equal":
            assert value == spec["value"], f"{spec['path']}: {value!r} != {spec['value']!r}"
        elif kind == "exists":
            assert value is not _MISSING, f"{spec['path']} does not exist"
        elif kind == "notExists":
            assert value is _MISSING, f"{spec['path']} exists: {value!r}"
        elif kind == "contains":
            assert isinstance(value, list) and spec["content"] in value, (
                f"{spec['path']} does not contain {spec['content']!r}"
            )
        else:
            raise AssertionError(f"assertion {kind} is not interpreted here: add it")


def _set_keys_exist(values: dict[str, Any]) -> None:
    defaults = chart_defaults()
    for dotted in values:
        node: Any = defaults
        parts = dotted.split(".")
        for i, part in enumerate(parts):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif i > 0 and parts[i - 1] in FREE_FORM:
                break
            else:
                raise AssertionError(f"set: {dotted} is not a values key of the chart")


CASES = [
    pytest.param(path, i, id=f"{path.stem}: {test['it']}")
    for path in SUITES
    for i, test in enumerate(_suite(path)["tests"])
]


def test_there_are_suites() -> None:
    assert len(SUITES) >= 3
    assert len(CASES) >= 12


@pytest.mark.parametrize(("path", "index"), CASES)
def test_suite_case(path: Path, index: int) -> None:
    suite = _suite(path)
    test = suite["tests"][index]
    templates = _templates_of(suite, test)
    assert templates, "name the templates the test looks at"
    for template in templates:
        assert _template_file(template).is_file(), f"template {template} does not exist"

    values: dict[str, Any] = {}
    for name in test.get("values", []):
        file = (path.parent / name).resolve()
        assert file.is_file(), f"values file {name} does not exist"
        values = deep_merge(values, yaml.safe_load(file.read_text()) or {})
    sets = test.get("set") or {}
    _set_keys_exist(sets)
    for dotted, value in sets.items():
        values = set_path(values, dotted, value)

    release = {**(suite.get("release") or {}), **(test.get("release") or {})}
    asserts = [next(iter(a.items())) for a in test["asserts"]]
    try:
        rendered: Rendered = render(
            values,
            is_upgrade=bool(release.get("upgrade")),
            release=release.get("name", "myretail"),
            namespace=release.get("namespace", "myretail"),
        )
    except helm.HelmError as error:
        failed = [spec for kind, spec in asserts if kind == "failedTemplate"]
        assert failed, f"render failed: {error}"
        for spec in failed:
            assert re.search(spec["errorPattern"], str(error)), str(error)
        return
    assert not any(kind == "failedTemplate" for kind, _ in asserts), "render did not fail"

    documents = [
        document
        for template in templates
        for document in yaml.safe_load_all(rendered.manifests.get(f"myretail/{template}", ""))
        if document
    ]
    for kind, spec in asserts:
        _check(kind, spec, documents)
