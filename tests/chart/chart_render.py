"""Render helpers for the chart tests: the real Helm v4 engine (helm-python-sdk), no cluster.

Every render loads the chart afresh (Helm prunes disabled subcharts from a loaded chart in
place). The renders of the chart defaults and of the three values files are cached for the
session (conftest.py's fixtures hand them out).
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python as helm
import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "myretail"
LIBRARY = "myretail-lib"
LIBRARY_DIR = CHART / "charts" / LIBRARY
VALUES_DIR = REPO / "values"
ENVS = ("dev", "staging", "prod")
RELEASE = "myretail"
NAMESPACE = "myretail"

# Workload kinds whose pod templates the tests look into.
POD_OWNERS = {"Deployment", "StatefulSet", "Job", "DaemonSet"}
HOOK_ANNOTATION = "helm.sh/hook"


# What an operator passes after a values file because only they know it (the helm-unittest
# suites use the same files): prod refuses to put the UI behind a load balancer until its
# source ranges are set.
OPERATOR_VALUES_DIR = CHART / "tests" / "values"


def load_env_values(env: str) -> dict[str, Any]:
    """The values file values/<env>.yaml as a dictionary."""
    return yaml.safe_load((VALUES_DIR / f"{env}.yaml").read_text()) or {}


def install_values(env: str) -> dict[str, Any]:
    """What an install with values/<env>.yaml passes: the file and the operator's additions."""
    operator = OPERATOR_VALUES_DIR / f"{env}-operator.yaml"
    added = yaml.safe_load(operator.read_text()) if operator.exists() else {}
    return deep_merge(load_env_values(env), added or {})


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """A copy of base with override merged in (dicts recursively, everything else replaced)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def set_path(values: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A copy of values with a --set style key ("inference.model.tag") set."""
    nested: Any = value
    for part in reversed(dotted.split(".")):
        nested = {part: nested}
    return deep_merge(values, nested)


@dataclass
class Rendered:
    """The objects of one render, with lookups by kind and name."""

    manifests: dict[str, str]
    objects: list[dict[str, Any]] = field(init=False)
    notes: str = field(init=False)

    def __post_init__(self) -> None:
        self.objects = []
        self.notes = ""
        for template, text in sorted(self.manifests.items()):
            if template.endswith("NOTES.txt"):
                self.notes = text
                continue
            for document in yaml.safe_load_all(text):
                if document:
                    document.setdefault("metadata", {})
                    self.objects.append(document)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        assert len(found) == 1, f"{kind}/{name}: {len(found)} objects in the render"
        return found[0]

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        found = [o for o in self.of_kind(kind) if o["metadata"]["name"] == name]
        return found[0] if found else None

    def hooks(self) -> list[dict[str, Any]]:
        return [o for o in self.objects if HOOK_ANNOTATION in annotations(o)]

    def names(self) -> set[tuple[str, str]]:
        return {(o["kind"], o["metadata"]["name"]) for o in self.objects}


def annotations(obj: dict[str, Any]) -> dict[str, str]:
    return obj.get("metadata", {}).get("annotations") or {}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod spec of a workload or Pod, or None for other kinds."""
    if obj["kind"] == "Pod":
        return obj["spec"]
    if obj["kind"] in POD_OWNERS:
        return obj["spec"]["template"]["spec"]
    return None


def pod_labels(obj: dict[str, Any]) -> dict[str, str]:
    """The labels of a Pod, or of a workload's pod template."""
    if obj["kind"] == "Pod":
        return obj["metadata"]["labels"]
    return obj["spec"]["template"]["metadata"]["labels"]


def containers(obj: dict[str, Any], *, init: bool = True) -> list[dict[str, Any]]:
    spec = pod_spec(obj)
    if spec is None:
        return []
    found = list(spec.get("containers", []))
    if init:
        found += spec.get("initContainers", [])
    return found


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """name -> value (or valueFrom) of a container's environment."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def render(
    values: dict[str, Any] | None = None,
    *,
    is_upgrade: bool = False,
    release: str = RELEASE,
    namespace: str = NAMESPACE,
    chart_dir: Path = CHART,
) -> Rendered:
    """Render the chart (the umbrella, or one subchart on its own) with these values, as
    `helm install` (or `helm upgrade`) would."""
    with helm.Chart.load(chart_dir) as chart:
        manifests = chart.render(
            values or {},
            name=release,
            namespace=namespace,
            is_install=not is_upgrade,
            is_upgrade=is_upgrade,
            revision=2 if is_upgrade else 1,
        )
    return Rendered(manifests)


def render_env(env: str, overrides: dict[str, Any] | None = None, **kwargs: Any) -> Rendered:
    """Render with values/<env>.yaml (and the operator's additions) and optional overrides on
    top."""
    return render(deep_merge(install_values(env), overrides or {}), **kwargs)


@functools.cache
def cached_env_render(env: str) -> Rendered:
    """The install render of values/<env>.yaml ("defaults": the chart's defaults alone)."""
    return render() if env == "defaults" else render_env(env)


def lint_problems(report: dict[str, Any]) -> list[str]:
    """The warnings and errors of a helm lint report (info messages are not problems)."""
    return [f"{m['path']}: {m['error']}" for m in report["messages"] if m["severity"] >= 2]


def chart_dependencies() -> list[dict[str, Any]]:
    """The dependencies of the umbrella's Chart.yaml."""
    return yaml.safe_load((CHART / "Chart.yaml").read_text())["dependencies"]


def values_key_to_chart_dir() -> dict[str, Path]:
    """Umbrella values key (alias or name) -> the subchart's folder."""
    return {
        dep.get("alias", dep["name"]): CHART / "charts" / dep["name"]
        for dep in chart_dependencies()
    }


def component_charts() -> dict[str, Path]:
    """values_key_to_chart_dir() without the library: the charts that deploy something."""
    return {key: folder for key, folder in values_key_to_chart_dir().items() if key != LIBRARY}


@functools.cache
def _chart_defaults() -> dict[str, Any]:
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    for key, folder in values_key_to_chart_dir().items():
        own = (
            yaml.safe_load((folder / "values.yaml").read_text())
            if (folder / "values.yaml").exists()
            else {}
        )
        if own:
            defaults[key] = deep_merge(own, defaults.get(key) or {})
    return defaults


def chart_defaults() -> dict[str, Any]:
    """Every default value as the umbrella sees it: its values.yaml with each subchart's
    values.yaml under the subchart's values key."""
    return copy.deepcopy(_chart_defaults())
