"""Internet egress: a pod that may leave the cluster reaches public addresses only.

The RAG API downloads catalog URLs for POST /load_data, so its NetworkPolicy is the network's
answer to SSRF: instance metadata (IPv4 and IPv6), RFC 1918, carrier-grade NAT and the VPC's
own ranges stay closed, while its in-cluster flows (Qdrant, Redis, inference, DNS) stay open.
The ipBlocks are evaluated here the way a NetworkPolicy implementation does: an address
passes when a block's cidr holds it and none of that block's excepts does.
"""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from chart_render import ENVS, Rendered, cached_env_render, render_env

NAME = "app.kubernetes.io/name"
EVERYWHERE = {"0.0.0.0/0", "::/0"}
# The VPC of an install (Terraform passes its CIDR blocks): one outside the private ranges.
VPC_CIDRS = ["198.18.0.0/15", "2600:1f14:abc:de00::/56"]
DUAL_STACK = {
    "global": {
        "networkPolicy": {"externalEgress": {"cidrs": ["0.0.0.0/0", "::/0"], "vpcCidrs": VPC_CIDRS}}
    }
}

INTERNAL = {
    "169.254.169.254": "instance metadata (IMDS)",
    "169.254.170.23": "EKS Pod Identity agent",
    "fd00:ec2::254": "instance metadata over IPv6",
    "fe80::1": "IPv6 link-local",
    "10.0.12.34": "RFC 1918 (the default VPC)",
    "172.20.0.1": "RFC 1918",
    "192.168.1.10": "RFC 1918",
    "100.64.3.2": "carrier-grade NAT (EKS custom networking)",
    "198.18.7.7": "the VPC's own range",
    "2600:1f14:abc:de00::10": "the VPC's own IPv6 range",
    "64:ff9b::a00:5": "NAT64 form of 10.0.0.5",
    "64:ff9b::a9fe:a9fe": "NAT64 form of the instance metadata address",
    "::ffff:10.0.0.1": "IPv4-mapped private address",
}
PUBLIC = ["52.218.130.1", "104.18.33.45", "2606:4700::6812:212d"]  # S3, OpenAI, IPv6


def _policy(rendered: Rendered, component: str) -> dict[str, Any]:
    (policy,) = [
        p
        for p in rendered.of_kind("NetworkPolicy")
        if p["spec"]["podSelector"].get("matchLabels", {}).get(NAME) == component
    ]
    return policy


def _ip_blocks(policy: dict[str, Any], port: int = 443) -> list[dict[str, Any]]:
    """The ipBlocks of the policy's egress rules that open this TCP port."""
    return [
        peer["ipBlock"]
        for rule in policy["spec"].get("egress", [])
        if port in {p["port"] for p in rule.get("ports", [])}
        for peer in rule.get("to", [])
        if "ipBlock" in peer
    ]


def _allows(blocks: list[dict[str, Any]], address: str) -> bool:
    ip = ipaddress.ip_address(address)

    def holds(cidr: str) -> bool:
        network = ipaddress.ip_network(cidr)
        return ip.version == network.version and ip in network

    return any(
        holds(block["cidr"]) and not any(holds(e) for e in block.get("except", []))
        for block in blocks
    )


@pytest.fixture(scope="module")
def dual_stack_prod() -> Rendered:
    """Prod on a cluster with IPv6 egress, with the VPC ranges Terraform passes."""
    return render_env("prod", DUAL_STACK)


def test_rag_api_reaches_the_internet_but_nothing_internal(dual_stack_prod: Rendered) -> None:
    blocks = _ip_blocks(_policy(dual_stack_prod, "rag-api"))
    assert {b["cidr"] for b in blocks} == EVERYWHERE
    closed = [f"{a} ({why})" for a, why in INTERNAL.items() if _allows(blocks, a)]
    assert not closed, f"the RAG API may reach: {closed}"
    for address in PUBLIC:
        assert _allows(blocks, address), address


def test_rag_api_default_egress_is_ipv4_internet_only() -> None:
    blocks = _ip_blocks(_policy(cached_env_render("prod"), "rag-api"))
    assert [b["cidr"] for b in blocks] == ["0.0.0.0/0"]
    internal_ipv4 = [a for a in INTERNAL if ":" not in a and not a.startswith("198.18.")]
    assert not [a for a in internal_ipv4 if _allows(blocks, a)]
    assert not _allows(blocks, "fd00:ec2::254"), "no IPv6 at all by default"
    assert _allows(blocks, "52.218.130.1")


def test_rag_api_keeps_its_in_cluster_flows(dual_stack_prod: Rendered) -> None:
    """Qdrant and Redis (prod), the in-cluster chat model (staging) and DNS stay reachable:
    they are pod rules, not the internet rule."""
    for rendered, peers in (
        (dual_stack_prod, {"qdrant", "redis"}),
        (cached_env_render("staging"), {"qdrant", "inference"}),
    ):
        egress = _policy(rendered, "rag-api")["spec"]["egress"]
        reached = {
            peer["podSelector"]["matchLabels"][NAME]
            for rule in egress
            for peer in rule.get("to", [])
            if "podSelector" in peer
        }
        assert reached == peers
        dns = rendered.get("NetworkPolicy", "myretail-allow-dns")
        assert dns["spec"]["podSelector"] == {
            "matchLabels": {"app.kubernetes.io/instance": "myretail"}
        }


@pytest.mark.parametrize("env", ENVS)
def test_every_internet_rule_keeps_out_internal_ranges(env: str) -> None:
    """Every pod's internet rule, not only the RAG API's, leaves out instance metadata,
    private and CGNAT ranges (the preflight hook reaches only the API server: its own rule)."""
    rendered = render_env(env, {"finetune": {"enabled": True, "model": {"tag": "v9"}}})
    checked = set()
    for policy in rendered.of_kind("NetworkPolicy"):
        component = policy["spec"]["podSelector"].get("matchLabels", {}).get(NAME)
        if component == "preflight":
            continue
        blocks = _ip_blocks(policy)
        if blocks:
            checked.add(component)
            assert not [
                a for a in ("169.254.169.254", "10.1.2.3", "100.64.0.1") if _allows(blocks, a)
            ]
    assert {"finetune", "catalog-restore", "inference"} <= checked, checked


@pytest.mark.parametrize("variant", ["prod", "dual stack"])
def test_excepts_are_inside_their_cidr(variant: str, dual_stack_prod: Rendered) -> None:
    """The API server refuses an except outside its cidr: IPv4 excepts go to the IPv4 block,
    IPv6 ones to the IPv6 block, none to a cidr narrower than everything."""
    rendered = dual_stack_prod if variant == "dual stack" else cached_env_render("prod")
    for policy in rendered.of_kind("NetworkPolicy"):
        for block in _ip_blocks(policy):
            cidr = ipaddress.ip_network(block["cidr"])
            for text in block.get("except", []):
                inner = ipaddress.ip_network(text)
                assert inner.version == cidr.version and inner.subnet_of(cidr) and inner != cidr


def test_vpc_ranges_and_a_narrow_cidr() -> None:
    rendered = render_env(
        "prod",
        {
            "global": {
                "networkPolicy": {
                    "externalEgress": {
                        "cidrs": ["0.0.0.0/0", "52.218.0.0/16"],
                        "vpcCidrs": ["198.18.0.0/15", "10.0.0.0/8"],
                    }
                }
            }
        },
    )
    everything, narrow = _ip_blocks(_policy(rendered, "rag-api"))
    assert everything["except"][-1] == "198.18.0.0/15"
    assert everything["except"].count("10.0.0.0/8") == 1, "listed once"
    assert narrow == {"cidr": "52.218.0.0/16"}, "a cidr you name is taken as it is"
