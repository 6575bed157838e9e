"""The preflight hook: before anything is installed, check every Secret key the release
references (only those its values use), with a ServiceAccount that may read exactly those
Secrets and a pod that reaches only the API server."""

from __future__ import annotations

from typing import Any

import pytest
from chart_render import (
    Rendered,
    annotations,
    cached_env_render,
    containers,
    pod_spec,
    render,
    render_env,
)

from myretail_common.preflight import main as preflight_main

PREFLIGHT = "myretail-preflight"
QDRANT = "myretail-qdrant:api-key"
ADMIN = "myretail-rag-admin:ADMIN_TOKEN"
OPENAI = "myretail-openai:OPENAI_API_KEY"
REDIS = "myretail-redis:redis-password"
HF = "myretail-huggingface:HUGGING_FACE_HUB_TOKEN"
FINETUNE = {"finetune": {"enabled": True, "model": {"tag": "v2"}}}


def _refs(rendered: Rendered) -> list[str]:
    (container,) = containers(rendered.get("Job", PREFLIGHT))
    assert container["command"] == ["myretail-preflight", "secrets"]
    args = container["args"]
    assert args[:2] == ["--namespace", "myretail"]
    return args[2:]


def _pod_secret_refs(rendered: Rendered) -> tuple[set[str], set[str]]:
    """(required, optional) "name:key" of every secretKeyRef in the render's pods, except the
    chart-made dev Secret."""
    required, optional = set(), set()
    for obj in rendered.objects:
        for container in containers(obj):
            for var in container.get("env", []):
                ref = (var.get("valueFrom") or {}).get("secretKeyRef")
                if not ref or ref["name"] == "myretail-dev-secrets":
                    continue
                (optional if ref.get("optional") else required).add(f"{ref['name']}:{ref['key']}")
    return required, optional


SCENARIOS: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "prod": ("prod", {}, [HF, OPENAI, QDRANT, ADMIN, REDIS]),
    "prod with a fine-tune run": ("prod", FINETUNE, [HF, OPENAI, QDRANT, ADMIN, REDIS]),
    "staging (in-cluster chat model, no Redis)": ("staging", {}, [HF, QDRANT, ADMIN]),
    "chart defaults": ("defaults", {}, [HF, QDRANT, ADMIN]),
    "dev (the chart-made dev Secret only)": ("dev", {}, []),
    "dev fine-tune from a local base model": ("dev", FINETUNE, []),
    "OpenAI embeddings": (
        "staging",
        {"ragApi": {"embeddings": {"provider": "openai"}}},
        [
            HF,
            OPENAI,
            QDRANT,
            ADMIN,
        ],
    ),
    "external Redis": (
        "staging",
        {
            "ragApi": {"history": {"type": "redis"}},
            "global": {"redis": {"url": "redis://r:6379/0"}},
        },
        [HF, QDRANT, ADMIN, REDIS],
    ),
    "a key the dev Secret does not hold": (
        "dev",
        {"ragApi": {"chat": {"provider": "openai"}}},
        [OPENAI],
    ),
    "S3 keys from a Secret": (
        "dev",
        {"global": {"modelStore": {"existingSecret": "s3-keys"}}},
        ["s3-keys:AWS_ACCESS_KEY_ID", "s3-keys:AWS_SECRET_ACCESS_KEY"],
    ),
    "no Hugging Face token configured": (
        "prod",
        {"global": {"huggingFace": {"token": {"existingSecret": ""}}}},
        [OPENAI, QDRANT, ADMIN, REDIS],
    ),
    "inference from a local base model": (
        "prod",
        {"inference": {"model": {"baseModel": "/models/llama-3-8b"}}},
        [OPENAI, QDRANT, ADMIN, REDIS],
    ),
    "no inference, no fine-tune": (
        "prod",
        {"inference": {"enabled": False}},
        [
            OPENAI,
            QDRANT,
            ADMIN,
            REDIS,
        ],
    ),
}


def _render(env: str, overrides: dict[str, Any]) -> Rendered:
    return render(overrides) if env == "defaults" else render_env(env, overrides)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_checks_exactly_the_secret_keys_the_release_uses(scenario: str) -> None:
    env, overrides, expected = SCENARIOS[scenario]
    rendered = _render(env, overrides)
    refs = _refs(rendered)
    assert refs == sorted(expected)
    # Every Secret a pod cannot start without is checked; nothing no pod uses is checked.
    required, optional = _pod_secret_refs(rendered)
    assert required <= set(refs), required - set(refs)
    assert set(refs) <= required | optional, set(refs) - (required | optional)


def test_role_reads_exactly_the_referenced_secrets() -> None:
    prod = cached_env_render("prod")
    role = prod.get("Role", PREFLIGHT)
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["secrets"],
            "verbs": ["get"],
            "resourceNames": [
                "myretail-huggingface",
                "myretail-openai",
                "myretail-qdrant",
                "myretail-rag-admin",
                "myretail-redis",
            ],
        }
    ]
    binding = prod.get("RoleBinding", PREFLIGHT)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": PREFLIGHT,
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": PREFLIGHT, "namespace": "myretail"}
    ]
    assert prod.of_kind("ClusterRole") == prod.of_kind("ClusterRoleBinding") == []


def test_the_pod_gets_a_token_only_to_read_those_secrets() -> None:
    job = cached_env_render("prod").get("Job", PREFLIGHT)
    spec = pod_spec(job)
    assert spec["serviceAccountName"] == PREFLIGHT
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    token = mounts["/var/run/secrets/kubernetes.io/serviceaccount"]
    assert token["readOnly"] is True
    volume = next(v for v in spec["volumes"] if v["name"] == token["name"])
    sources = volume["projected"]["sources"]
    assert sources[0]["serviceAccountToken"]["expirationSeconds"] == 600
    assert sources[1]["configMap"]["name"] == "kube-root-ca.crt"
    assert job["spec"]["backoffLimit"] == 0, "a missing Secret fails at once"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_nothing_to_check_means_no_role_and_no_token() -> None:
    dev = cached_env_render("dev")
    assert dev.find("Role", PREFLIGHT) is None
    assert dev.find("RoleBinding", PREFLIGHT) is None
    spec = pod_spec(dev.get("Job", PREFLIGHT))
    assert [v["name"] for v in spec["volumes"]] == ["tmp"]


def test_runs_before_every_other_hook_and_is_removed_when_it_passes() -> None:
    prod = cached_env_render("prod")
    weights = {
        (o["kind"], o["metadata"]["name"]): int(annotations(o)["helm.sh/hook-weight"])
        for o in prod.hooks()
        if "pre-install" in annotations(o)["helm.sh/hook"]
    }
    preflight = {k: w for k, w in weights.items() if k[1] == PREFLIGHT}
    others = {k: w for k, w in weights.items() if k[1] != PREFLIGHT}
    assert len(preflight) == 4 and others
    assert max(preflight.values()) < min(others.values())
    job_policy = annotations(prod.get("Job", PREFLIGHT))["helm.sh/hook-delete-policy"]
    assert job_policy == "before-hook-creation,hook-succeeded", "a failed Job stays to be read"


def test_reaches_only_the_api_server() -> None:
    policy = cached_env_render("prod").get("NetworkPolicy", PREFLIGHT)
    assert policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == "preflight"
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in policy["spec"]
    (rule,) = policy["spec"]["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": 443}]
    dev = cached_env_render("dev").get("NetworkPolicy", PREFLIGHT)
    assert [p["port"] for p in dev["spec"]["egress"][0]["ports"]] == [443, 6443], "kind: 6443"


def test_runs_the_project_image_restricted() -> None:
    prod = cached_env_render("prod")
    (container,) = containers(prod.get("Job", PREFLIGHT))
    test_pod = prod.get("Pod", "myretail-test-rag-api")["spec"]["containers"][0]
    assert container["image"] == test_pod["image"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True


def test_can_be_switched_off() -> None:
    rendered = render_env("prod", {"global": {"preflight": {"enabled": False}}})
    assert [o for o in rendered.objects if o["metadata"]["name"] == PREFLIGHT] == []
    assert "preflight" not in rendered.notes


def test_rendered_command_is_what_the_cli_takes(monkeypatch, capsys) -> None:
    """The Job's command line parses; outside a pod it stops at "no API server"."""
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    (container,) = containers(cached_env_render("prod").get("Job", PREFLIGHT))
    assert preflight_main([*container["command"][1:], *container["args"]]) == 2
    assert "no API server" in capsys.readouterr().err
