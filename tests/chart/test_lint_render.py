"""The chart lints clean and renders with its defaults and each values file."""

from __future__ import annotations

import helm_python as helm
import pytest
from chart_render import (
    CHART,
    ENVS,
    HOOK_ANNOTATION,
    NAMESPACE,
    annotations,
    cached_env_render,
    install_values,
    lint_problems,
    pod_labels,
    pod_spec,
)

STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "helm.sh/chart",
)


def test_lints_clean_with_defaults() -> None:
    report = helm.lint(CHART, strict=True, kube_version="v1.30.0")
    assert lint_problems(report) == [], report
    assert report["errors"] == []


@pytest.mark.parametrize("env", ENVS)
def test_lints_clean_with_values_file(env: str) -> None:
    report = helm.lint(CHART, install_values(env), strict=True, namespace=NAMESPACE)
    assert lint_problems(report) == [], report
    assert report["errors"] == []


@pytest.mark.parametrize("env", ["defaults", *ENVS])
def test_renders(env: str) -> None:
    rendered = cached_env_render(env)
    kinds = {o["kind"] for o in rendered.objects}
    assert {"Deployment", "StatefulSet", "Service", "NetworkPolicy", "Pod"} <= kinds
    assert "helm test" in rendered.notes


@pytest.mark.parametrize("env", ["defaults", *ENVS])
def test_every_object_is_named_namespaced_and_labelled(env: str) -> None:
    rendered = cached_env_render(env)
    seen: set[tuple[bool, str, str]] = set()
    for obj in rendered.objects:
        meta = obj["metadata"]
        where = f"{obj['kind']}/{meta.get('name')}"
        # Release objects and hook objects are separate sets (the install-time check-tag hook
        # borrows the inference ServiceAccount's name on purpose).
        key = (HOOK_ANNOTATION in annotations(obj), obj["kind"], meta["name"])
        assert key not in seen, f"{where} rendered twice"
        seen.add(key)
        assert len(meta["name"]) <= 63, where
        assert meta.get("namespace") == NAMESPACE, where
        labels = meta.get("labels") or {}
        missing = [label for label in STANDARD_LABELS if label not in labels]
        assert not missing, f"{where} lacks {missing}"
        assert labels["app.kubernetes.io/instance"] == "myretail"
        assert labels["app.kubernetes.io/part-of"] == "myretail"
        if obj["kind"] in {"Deployment", "StatefulSet", "Job"}:
            template_labels = obj["spec"]["template"]["metadata"]["labels"]
            missing = [label for label in STANDARD_LABELS if label not in template_labels]
            assert not missing, f"{where} pod template lacks {missing}"


@pytest.mark.parametrize("env", ["defaults", *ENVS])
def test_services_select_exactly_their_component(env: str) -> None:
    """Selectors use name + instance, and hook / test pods never carry a component's name."""
    rendered = cached_env_render(env)
    pods = [(o, pod_spec(o)) for o in rendered.objects if pod_spec(o) is not None]
    for service in rendered.of_kind("Service"):
        selector = service["spec"]["selector"]
        assert set(selector) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
        matching = []
        for owner, _ in pods:
            labels = pod_labels(owner)
            if all(labels.get(k) == v for k, v in selector.items()):
                matching.append(owner)
        kinds = {o["kind"] for o in matching}
        names = [o["metadata"]["name"] for o in matching]
        assert kinds and kinds <= {"Deployment", "StatefulSet"}, (
            f"Service {service['metadata']['name']} selects {names}"
        )
