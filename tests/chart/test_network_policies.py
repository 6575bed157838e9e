"""NetworkPolicies: default deny, DNS, then only the flows the product needs."""

from __future__ import annotations

import pytest
from chart_render import ENVS, Rendered, cached_env_render, pod_labels, pod_spec, render_env

NAME = "app.kubernetes.io/name"
# What "the internet" leaves out by default (IPv4): link-local (instance metadata), RFC 1918,
# carrier-grade NAT.
INTERNAL_IPV4 = ["169.254.0.0/16", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"]


def _edges(rendered: Rendered) -> set[tuple[str, str, int, str]]:
    """(from, to, port, side) for every pod-to-pod rule; side is ingress or egress."""
    edges = set()
    for policy in rendered.of_kind("NetworkPolicy"):
        selected = policy["spec"]["podSelector"].get("matchLabels", {}).get(NAME)
        if selected is None:
            continue
        for side, peers in (("ingress", "from"), ("egress", "to")):
            for rule in policy["spec"].get(side, []):
                for peer in rule.get(peers, []):
                    other = peer.get("podSelector", {}).get("matchLabels", {}).get(NAME)
                    if not other:
                        continue
                    source, target = (other, selected) if side == "ingress" else (selected, other)
                    for port in rule.get("ports", []):
                        edges.add((source, target, port["port"], side))
    return edges


def _external_egress(rendered: Rendered) -> set[str]:
    names = set()
    for policy in rendered.of_kind("NetworkPolicy"):
        selected = policy["spec"]["podSelector"].get("matchLabels", {}).get(NAME)
        for rule in policy["spec"].get("egress", []):
            if any("ipBlock" in peer for peer in rule.get("to", [])):
                names.add(selected)
    return names


def _flow(edges: set, source: str, target: str, port: int) -> bool:
    return (source, target, port, "egress") in edges and (source, target, port, "ingress") in edges


@pytest.mark.parametrize("env", ENVS)
def test_default_deny_and_dns(env: str) -> None:
    rendered = cached_env_render(env)
    deny = rendered.get("NetworkPolicy", "myretail-default-deny")
    assert deny["spec"]["podSelector"] == {
        "matchLabels": {"app.kubernetes.io/instance": "myretail"}
    }
    assert deny["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert "ingress" not in deny["spec"] and "egress" not in deny["spec"]
    dns = rendered.get("NetworkPolicy", "myretail-allow-dns")
    ports = {(p["protocol"], p["port"]) for p in dns["spec"]["egress"][0]["ports"]}
    assert ports == {("UDP", 53), ("TCP", 53)}


def test_prod_flows() -> None:
    edges = _edges(cached_env_render("prod"))
    assert _flow(edges, "chatbot-ui", "rag-api", 8080)
    assert _flow(edges, "chatbot-ui", "inference", 8000)
    assert _flow(edges, "rag-api", "qdrant", 6333)
    assert _flow(edges, "rag-api", "redis", 6379)
    assert _flow(edges, "catalog-restore", "qdrant", 6333)
    for component, port in [("qdrant", 6333), ("inference", 8000), ("rag-api", 8080)]:
        assert _flow(edges, "helm-test", component, port)
    # nothing else reaches the data stores
    assert {e[0] for e in edges if e[1] == "redis" and e[3] == "ingress"} == {"rag-api"}
    assert {e[0] for e in edges if e[1] == "qdrant" and e[3] == "ingress"} == {
        "rag-api",
        "catalog-restore",
        "helm-test",
    }
    # the chat model is OpenAI in prod: the RAG API may leave the cluster on 443
    assert "rag-api" in _external_egress(cached_env_render("prod"))
    assert not _flow(edges, "rag-api", "inference", 8000)


def test_in_cluster_chat_model_flow() -> None:
    rendered = cached_env_render("staging")
    edges = _edges(rendered)
    assert _flow(edges, "rag-api", "inference", 8000)
    assert "rag-api" not in _external_egress(rendered)
    assert not any(e[1] == "redis" for e in edges)


def test_only_store_readers_leave_the_cluster() -> None:
    rendered = render_env("prod", {"finetune": {"enabled": True, "model": {"tag": "v2"}}})
    assert _external_egress(rendered) == {
        "inference",
        "model-tag-check",
        "catalog-restore",
        "finetune",
        "rag-api",
        "preflight",  # the Kubernetes API server only (test_preflight.py)
    }
    policy = rendered.get("NetworkPolicy", "myretail-inference")
    (rule,) = policy["spec"]["egress"]
    # the internet only: no instance metadata, no private, CGNAT or VPC address
    assert rule["to"][0]["ipBlock"]["except"] == INTERNAL_IPV4
    assert [p["port"] for p in rule["ports"]] == [443]


@pytest.mark.parametrize("env", ENVS)
def test_every_pod_has_its_own_policy(env: str) -> None:
    rendered = cached_env_render(env)
    selected = {
        p["spec"]["podSelector"]["matchLabels"].get(NAME) for p in rendered.of_kind("NetworkPolicy")
    }
    for obj in rendered.objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        assert pod_labels(obj)[NAME] in selected, (
            f"{obj['kind']}/{obj['metadata']['name']} has no policy"
        )


def test_policies_can_be_switched_off() -> None:
    rendered = render_env("prod", {"global": {"networkPolicy": {"enabled": False}}})
    assert rendered.of_kind("NetworkPolicy") == []
