"""Ports are written once, in the library's port table (myretail.ports), and everything that
names a port agrees with it: container ports, Services, NetworkPolicies and the in-cluster
URLs the components and the helm test pods are given."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from chart_render import (
    CHART,
    ENVS,
    LIBRARY_DIR,
    RELEASE,
    Rendered,
    cached_env_render,
    containers,
    env_of,
    pod_labels,
)

PORTS_FILE = LIBRARY_DIR / "templates" / "_ports.tpl"
NAME = "app.kubernetes.io/name"
RENDERS = ["defaults", *ENVS]


def _port_table() -> dict[str, list[dict[str, Any]]]:
    text = PORTS_FILE.read_text()
    body = re.search(r'define "myretail\.ports\.table" -}}\n(.*?)\{\{- end', text, re.DOTALL)
    assert body, f"no port table in {PORTS_FILE}"
    return yaml.safe_load(body.group(1))


def _template_files() -> list[Path]:
    """Every template of the umbrella and its subcharts, each file once (links not followed)."""
    return [
        path
        for path in CHART.rglob("*")
        if path.is_file()
        and "templates" in path.relative_to(CHART).parts
        and not any(p.is_symlink() for p in path.parents)
    ]


def _container_ports(rendered: Rendered) -> dict[str, dict[str, int]]:
    """component (app.kubernetes.io/name) -> {port name: container port}."""
    ports: dict[str, dict[str, int]] = {}
    for obj in rendered.objects:
        for container in containers(obj, init=False):
            named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            if named:
                ports.setdefault(pod_labels(obj)[NAME], {}).update(named)
    return ports


def test_port_numbers_are_written_only_in_the_port_table() -> None:
    numbers = {str(p["port"]) for ports in _port_table().values() for p in ports}
    assert {"8000", "8080", "7860", "6333", "6334", "6379"} <= numbers
    by_hand = re.compile(r"(?<![\w.])(" + "|".join(sorted(numbers)) + r")(?![\w.])")
    files = _template_files()
    assert PORTS_FILE in files and len(files) > 40, "the scan sees every template"
    written = [
        f"{path.relative_to(CHART)}:{n}: {line.strip()}"
        for path in files
        if path != PORTS_FILE
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if by_hand.search(line)
    ]
    assert written == [], "use myretail.port / myretail.ports instead:\n" + "\n".join(written)


@pytest.mark.parametrize("env", RENDERS)
def test_containers_listen_on_the_table_ports(env: str) -> None:
    table = {
        component: {p["name"]: p["port"] for p in ports}
        for component, ports in _port_table().items()
    }
    served = _container_ports(cached_env_render(env))
    assert served, "no container ports rendered"
    for component, ports in served.items():
        assert ports == table[component], component


@pytest.mark.parametrize("env", RENDERS)
def test_services_target_named_container_ports(env: str) -> None:
    rendered = cached_env_render(env)
    served = _container_ports(rendered)
    for service in rendered.of_kind("Service"):
        component = service["spec"]["selector"][NAME]
        for port in service["spec"]["ports"]:
            where = f"Service {service['metadata']['name']} port {port['name']}"
            assert port["targetPort"] == port["name"], where
            assert port["name"] in served[component], where
            if component != "chatbot-ui":  # the UI's Service port is a value (80)
                assert port["port"] == served[component][port["name"]], where


def _components(peers: list[dict[str, Any]]) -> list[str]:
    """The release components among a rule's peers (not DNS, not ipBlocks)."""
    names = [p.get("podSelector", {}).get("matchLabels", {}).get(NAME) for p in peers]
    return [n for n in names if n]


@pytest.mark.parametrize("env", RENDERS)
def test_network_policies_open_container_ports(env: str) -> None:
    """Ingress to a serving pod and egress to a component: only ports its containers open."""
    rendered = cached_env_render(env)
    served = {c: set(p.values()) for c, p in _container_ports(rendered).items()}
    rules: list[tuple[str, str, dict[str, Any]]] = []
    for policy in rendered.of_kind("NetworkPolicy"):
        name = policy["metadata"]["name"]
        selected = policy["spec"]["podSelector"].get("matchLabels", {}).get(NAME)
        if selected in served:
            rules += [(name, selected, rule) for rule in policy["spec"].get("ingress", [])]
        for rule in policy["spec"].get("egress", []):
            rules += [(name, target, rule) for target in _components(rule.get("to", []))]
    assert len(rules) >= 8, rules
    for name, target, rule in rules:
        ports = {p["port"] for p in rule.get("ports", [])}
        assert ports and ports <= served[target], f"{name} -> {target}: {ports}"


@pytest.mark.parametrize("env", RENDERS)
def test_in_cluster_urls_name_a_service_port(env: str) -> None:
    rendered = cached_env_render(env)
    services = {
        (s["metadata"]["name"], p["port"])
        for s in rendered.of_kind("Service")
        for p in s["spec"]["ports"]
    }
    urls = [
        (f"{obj['metadata']['name']} {name}", value)
        for obj in rendered.objects
        for container in containers(obj)
        for name, value in env_of(container).items()
        if isinstance(value, str) and "://" in value
    ]
    in_cluster = [
        (where, url)
        for where, url in ((where, urlsplit(value)) for where, value in urls)
        if url.scheme in {"http", "redis"} and (url.hostname or "").startswith(f"{RELEASE}-")
    ]
    assert len(in_cluster) >= 6, urls
    for where, url in in_cluster:
        assert (url.hostname, url.port) in services, f"{where}: {url.geturl()}"
