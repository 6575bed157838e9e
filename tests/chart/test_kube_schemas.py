"""Every rendered object validates strictly against the Kubernetes schemas that
kubernetes-validate ships, for every minor version from 1.30 to the newest it knows."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jsonschema
import kubernetes_validate.utils as kv
import pytest
from chart_render import ENVS, cached_env_render
from packaging.version import Version
from referencing import Registry, Resource

MIN_VERSION = Version("1.30")
VERSIONS = [v for v in kv.all_versions() if Version(v) >= MIN_VERSION]


@functools.cache
def _definitions(version: str) -> Resource:
    contents = kv.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/_definitions.json", version
    )
    return Resource.from_contents(contents)


@functools.cache
def _validator(version: str, kind: str, api_version: str) -> jsonschema.Validator:
    """Cached equivalent of kubernetes_validate.validate(..., strict=True)."""
    group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    schema = kv.schema_contents(
        f"kubernetes-json-schema/v{version}-local-strict/{kind.lower()}-{group}.json", version
    )
    registry = _definitions(version) @ (Resource.from_contents(schema) @ Registry())
    return jsonschema.Draft202012Validator(schema, registry=registry)


def _unique_objects() -> list[tuple[str, dict[str, Any]]]:
    """The objects of every render, each distinct object once."""
    seen: dict[str, tuple[str, dict[str, Any]]] = {}
    for env in ("defaults", *ENVS):
        for obj in cached_env_render(env).objects:
            key = json.dumps(obj, sort_keys=True)
            seen.setdefault(key, (f"{env}: {obj['kind']}/{obj['metadata']['name']}", obj))
    return list(seen.values())


def test_versions_cover_130_to_newest() -> None:
    assert VERSIONS[0].startswith("1.30")
    assert len(VERSIONS) >= 2, VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_validates_strictly(version: str) -> None:
    problems = []
    for where, obj in _unique_objects():
        validator = _validator(version, obj["kind"], obj["apiVersion"])
        for error in validator.iter_errors(obj):
            path = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{where} at {path}: {error.message}")
    assert problems == [], "\n".join(problems[:20])


def test_validator_is_strict() -> None:
    """The schemas refuse what Kubernetes refuses (so a pass above means something)."""
    obj = cached_env_render("prod").get("Deployment", "myretail-inference")
    broken = json.loads(json.dumps(obj))
    broken["spec"]["template"]["spec"]["containers"][0]["resourcez"] = {}
    errors = list(_validator(VERSIONS[-1], "Deployment", "apps/v1").iter_errors(broken))
    assert errors, "an unknown field passed strict validation"
