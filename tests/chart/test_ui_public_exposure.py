"""The chat window on the internet: TLS only, and nothing but the chat.

In prod an internet-facing NLB terminates TLS with an ACM certificate and has no plain-HTTP
listener; the chart refuses a public load balancer or an Ingress without TLS there. The
public Service exposes the UI's one HTTP port, which serves no API docs, and /metrics is on
a port of its own that neither the Service nor the NetworkPolicy opens to users.
"""

from __future__ import annotations

from typing import Any

import helm_python as helm
import pytest
import yaml
from chart_render import (
    ENVS,
    OPERATOR_VALUES_DIR,
    annotations,
    cached_env_render,
    containers,
    deep_merge,
    env_of,
    load_env_values,
    render,
    render_env,
)

LB = "service.beta.kubernetes.io/aws-load-balancer-"
UI = "myretail-chatbot-ui"
RANGES = {"chatbotUi": {"service": {"loadBalancerSourceRanges": ["198.18.0.0/15"]}}}
NO_TLS = "serves the chat UI over TLS only"


def _certificate() -> str:
    operator = yaml.safe_load((OPERATOR_VALUES_DIR / "prod-operator.yaml").read_text())
    return operator["chatbotUi"]["service"]["awsNlb"]["certificateArn"]


def _prod_without_certificate(*overrides: dict[str, Any]) -> dict[str, Any]:
    """values/prod.yaml with real source ranges but no certificate, plus overrides."""
    values = deep_merge(load_env_values("prod"), RANGES)
    for override in overrides:
        values = deep_merge(values, override)
    return values


def test_prod_ui_listens_on_https_only() -> None:
    rendered = cached_env_render("prod")
    service = rendered.get("Service", UI)
    assert service["spec"]["ports"] == [
        {"name": "http", "port": 443, "targetPort": "http", "protocol": "TCP"}
    ]
    lb = annotations(service)
    assert lb[f"{LB}ssl-cert"] == _certificate()
    assert lb[f"{LB}ssl-ports"] == "443"
    assert lb[f"{LB}ssl-negotiation-policy"].startswith("ELBSecurityPolicy-TLS13")
    assert lb[f"{LB}backend-protocol"] == "tcp", "plain HTTP to the pods inside the VPC"
    assert "https://<host name>/" in rendered.notes
    # the helm test pod reaches the UI on the Service's port, inside the cluster
    test_pod = rendered.get("Pod", "myretail-test-chatbot-ui")
    assert f"http://{UI}:443" in yaml.safe_dump(test_pod)


def test_prod_refuses_a_public_load_balancer_without_tls() -> None:
    with pytest.raises(helm.HelmRenderError, match=NO_TLS) as caught:
        render(_prod_without_certificate())
    assert "chatbotUi.service.awsNlb.certificateArn" in str(caught.value)


@pytest.mark.parametrize(
    "override",
    [
        {"chatbotUi": {"service": {"awsNlb": {"scheme": "internal"}}}},
        {"chatbotUi": {"service": {"annotations": {f"{LB}ssl-cert": "arn:aws:acm:x"}}}},
        {"chatbotUi": {"service": {"type": "ClusterIP"}}},
    ],
    ids=["internal NLB", "own TLS annotations", "no load balancer"],
)
def test_prod_accepts_an_exposure_that_is_not_public_or_has_tls(override: dict) -> None:
    service = render(_prod_without_certificate(override)).get("Service", UI)
    assert [p["port"] for p in service["spec"]["ports"]] == [80]


def test_prod_ingress_needs_tls() -> None:
    ingress = {
        "enabled": True,
        "className": "alb",
        "hosts": [{"host": "chat.example.com", "paths": [{"path": "/"}]}],
    }
    cluster_ip = {"chatbotUi": {"service": {"type": "ClusterIP"}, "ingress": ingress}}
    with pytest.raises(helm.HelmRenderError, match=NO_TLS):
        render(_prod_without_certificate(cluster_ip))
    secret = {
        "chatbotUi": {
            "ingress": {"tls": [{"secretName": "chat-tls", "hosts": ["chat.example.com"]}]}
        }
    }
    alb = {
        "chatbotUi": {
            "ingress": {
                "annotations": {"alb.ingress.kubernetes.io/certificate-arn": _certificate()}
            }
        }
    }
    for tls in (secret, alb):
        (rendered,) = render(_prod_without_certificate(cluster_ip, tls)).of_kind("Ingress")
        assert rendered["spec"]["rules"][0]["host"] == "chat.example.com"


def test_tls_needs_the_chart_nlb() -> None:
    """A certificate on a Service that is no chart-annotated NLB changes nothing: TLS is the
    NLB's, so the Service keeps its plain port (and prod still refuses it)."""
    certificate = {"chatbotUi": {"service": {"awsNlb": {"certificateArn": _certificate()}}}}
    dev = render_env("dev", certificate).get("Service", UI)
    assert [p["port"] for p in dev["spec"]["ports"]] == [80]
    assert f"{LB}ssl-cert" not in annotations(dev)
    other_cloud = {"chatbotUi": {"service": {"awsNlb": {"enabled": False}}}}
    with pytest.raises(helm.HelmRenderError, match=NO_TLS):
        render(_prod_without_certificate(certificate, other_cloud))


@pytest.mark.parametrize("env", ENVS)
def test_ui_service_exposes_only_the_ui_port(env: str) -> None:
    """The UI's pods also listen on a metrics port; its Service, public in prod, forwards to
    the one HTTP port, and users' NetworkPolicy rule opens only that port."""
    rendered = cached_env_render(env)
    service = rendered.get("Service", UI)
    assert [p["targetPort"] for p in service["spec"]["ports"]] == ["http"]
    (container,) = containers(rendered.get("Deployment", UI), init=False)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert set(ports) == {"http", "metrics"}
    env_vars = env_of(container)
    assert env_vars["PUBLIC_API_DOCS"] == "false", "no /docs, /redoc, /openapi.json"
    assert env_vars["METRICS_PORT"] == str(ports["metrics"])
    (users,) = rendered.get("NetworkPolicy", UI)["spec"]["ingress"]
    assert [p["port"] for p in users["ports"]] == [ports["http"]]


def test_metrics_port_opens_only_to_named_scrapers() -> None:
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}}}
    rendered = render_env("prod", {"chatbotUi": {"networkPolicy": {"metricsFrom": [monitoring]}}})
    users, scrapers = rendered.get("NetworkPolicy", UI)["spec"]["ingress"]
    assert "from" not in users and [p["port"] for p in users["ports"]] == [7860]
    assert scrapers == {"ports": [{"protocol": "TCP", "port": 9090}], "from": [monitoring]}
