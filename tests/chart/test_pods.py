"""Every pod is restricted, sized and (where it serves) probed; secrets only by reference."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest
import yaml
from chart_render import (
    CHART,
    ENVS,
    VALUES_DIR,
    cached_env_render,
    containers,
    pod_spec,
)

RENDERS = ["defaults", *ENVS]
CREDENTIAL = re.compile(r"(KEY|TOKEN|PASSWORD|SECRET|AUTH)", re.IGNORECASE)


def _pods(env: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    found = []
    for obj in cached_env_render(env).objects:
        spec = pod_spec(obj)
        if spec is not None:
            found.append((f"{obj['kind']}/{obj['metadata']['name']}", obj, spec))
    return found


@pytest.mark.parametrize("env", RENDERS)
def test_pods_are_restricted(env: str) -> None:
    for where, obj, spec in _pods(env):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        assert spec["automountServiceAccountToken"] is False, where
        assert not spec.get("hostNetwork") and not spec.get("hostPID"), where
        for volume in spec.get("volumes", []):
            assert "hostPath" not in volume, where
        for container in containers(obj):
            ctx = container["securityContext"]
            name = f"{where} container {container['name']}"
            assert ctx["runAsNonRoot"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["capabilities"] == {"drop": ["ALL"]}, name
            assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, name
            assert ctx.get("privileged") is not True, name
            assert ctx["runAsUser"] >= 10000, name


@pytest.mark.parametrize("env", RENDERS)
def test_read_only_root_has_a_writable_tmp(env: str) -> None:
    for where, obj, spec in _pods(env):
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in containers(obj, init=False):
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert "/tmp" in mounts, f"{where}: no writable /tmp"
            assert "emptyDir" in volumes[mounts["/tmp"]], where
            assert volumes[mounts["/tmp"]]["emptyDir"].get("sizeLimit"), where


@pytest.mark.parametrize("env", RENDERS)
def test_every_container_has_requests_and_limits(env: str) -> None:
    for where, obj, _ in _pods(env):
        for container in containers(obj):
            resources = container.get("resources", {})
            name = f"{where} container {container['name']}"
            assert {"cpu", "memory"} <= set(resources.get("requests", {})), name
            assert {"cpu", "memory"} <= set(resources.get("limits", {})), name


@pytest.mark.parametrize("env", RENDERS)
def test_serving_containers_have_probes(env: str) -> None:
    served = 0
    for where, obj, _ in _pods(env):
        for container in containers(obj, init=False):
            if not container.get("ports"):
                continue
            served += 1
            name = f"{where} container {container['name']}"
            assert "readinessProbe" in container, name
            assert "livenessProbe" in container, name
            if obj["kind"] == "Deployment":
                assert "startupProbe" in container, name
                assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
                assert container["livenessProbe"]["httpGet"]["path"] in {"/healthz", "/livez"}
    assert served >= 4


def test_inference_probes_allow_an_8b_model_load() -> None:
    deployment = cached_env_render("prod").get("Deployment", "myretail-inference")
    # prod serves on vLLM: vLLM loads the model, the gateway waits for it.
    container, engine = containers(deployment, init=False)
    for probed in (container, engine):
        startup = probed["startupProbe"]
        assert startup["failureThreshold"] * startup["periodSeconds"] >= 15 * 60, probed["name"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.mark.parametrize("env", RENDERS)
def test_credentials_come_from_secrets_only(env: str) -> None:
    for where, obj, _ in _pods(env):
        for container in containers(obj):
            for var in container.get("env", []):
                if CREDENTIAL.search(var["name"]) and var["name"] != "MAX_BATCH_SIZE":
                    assert "valueFrom" in var, f"{where}: {var['name']} has a literal value"
                    assert "secretKeyRef" in var["valueFrom"], f"{where}: {var['name']}"


def _values_strings() -> set[str]:
    strings: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
        elif isinstance(node, str) and len(node) >= 4:
            strings.add(node)

    for path in [*VALUES_DIR.glob("*.yaml"), *CHART.rglob("values.yaml")]:
        walk(yaml.safe_load(path.read_text()))
    return strings


def test_no_secret_in_prod_carries_a_value_from_values_files() -> None:
    prod = cached_env_render("prod")
    from_values = _values_strings()
    for secret in prod.of_kind("Secret"):
        values = list((secret.get("stringData") or {}).values())
        values += [base64.b64decode(v).decode() for v in (secret.get("data") or {}).values()]
        leaked = [v for v in values if v in from_values]
        assert not leaked, f"Secret {secret['metadata']['name']} holds values-file content"
    assert prod.of_kind("Secret") == [], "prod references existing Secrets only"


def test_prod_references_the_secrets_its_values_name() -> None:
    referenced = {
        var["valueFrom"]["secretKeyRef"]["name"]
        for _, obj, _ in _pods("prod")
        for container in containers(obj)
        for var in container.get("env", [])
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    assert referenced == {
        "myretail-qdrant",
        "myretail-redis",
        "myretail-huggingface",
        "myretail-openai",
        "myretail-rag-admin",
    }


def test_dev_secrets_are_chart_created_and_used() -> None:
    dev = cached_env_render("dev")
    secret = dev.get("Secret", "myretail-dev-secrets")
    assert set(secret["stringData"]) == {"qdrant-api-key", "admin-token"}
    assert len(secret["stringData"]["admin-token"]) >= 32, "the RAG API refuses shorter tokens"
    rag = dev.get("Deployment", "myretail-rag-api")
    env = {e["name"]: e for e in containers(rag)[0]["env"]}
    assert env["QDRANT_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": "myretail-dev-secrets",
        "key": "qdrant-api-key",
    }
    assert "dev" in dev.notes.lower() and "WARNING" in dev.notes
