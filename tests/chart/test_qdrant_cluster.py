"""Qdrant's distributed mode (qdrant.replicaCount > 1), rendered by the real Helm engine: the
cluster settings, the p2p port on the headless Service and open only between Qdrant's pods,
each pod's bootstrap (its rendered script run with bash), the PodDisruptionBudget, the spread
over zones and nodes, the collection layout the RAG API sends, and the values the install
refuses. The cluster render passes strict Kubernetes schema validation and checkov. One node
renders no trace of any of it."""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import test_checkov as checkov_skips  # the chart's reasoned skip list and how an entry matches
from chart_render import (
    ENVS,
    Rendered,
    cached_env_render,
    containers,
    env_of,
    render,
    render_env,
)
from test_kube_schemas import VERSIONS as KUBERNETES_VERSIONS  # 1.30 to the newest known

from myretail_testkit.chart_scans import checkov_failures

NAME = "app.kubernetes.io/name"
STATEFULSET = ("StatefulSet", "myretail-qdrant")
HEADLESS = "myretail-qdrant-headless"
P2P = 6335
HTTP = 6333
CLUSTER = {"qdrant": {"replicaCount": 3}}
LAYOUT_ENV = ("QDRANT_SHARD_NUMBER", "QDRANT_REPLICATION_FACTOR", "QDRANT_WRITE_CONSISTENCY_FACTOR")
CLUSTER_ENV = (
    "QDRANT__CLUSTER__ENABLED",
    "QDRANT__CLUSTER__P2P__PORT",
    "QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR",
    "QDRANT__STORAGE__COLLECTION__WRITE_CONSISTENCY_FACTOR",
)


@functools.cache
def _cluster() -> Rendered:
    """prod with a three-node Qdrant."""
    return render_env("prod", CLUSTER)


def _qdrant_container(rendered: Rendered) -> dict[str, Any]:
    (container,) = containers(rendered.get(*STATEFULSET))
    return container


def _rag_env(rendered: Rendered) -> dict[str, Any]:
    (container,) = containers(rendered.get("Deployment", "myretail-rag-api"), init=False)
    return env_of(container)


def _service_ports(rendered: Rendered, name: str) -> dict[str, int]:
    return {p["name"]: p["port"] for p in rendered.get("Service", name)["spec"]["ports"]}


def _rules_on_port(rendered: Rendered, port: int) -> list[tuple[str, str, set[str]]]:
    """(policy, side, the release components on the other side) of every rule that opens
    ``port``; a rule without peers would open it to everyone ({"*"})."""
    found = []
    for policy in rendered.of_kind("NetworkPolicy"):
        for side, peers_key in (("ingress", "from"), ("egress", "to")):
            for rule in policy["spec"].get(side, []):
                ports = {p.get("port") for p in rule.get("ports", [])}
                if port not in ports and ports:
                    continue
                peers = rule.get(peers_key)
                names = {
                    p.get("podSelector", {}).get("matchLabels", {}).get(NAME, "*")
                    for p in peers or [{}]
                }
                selected = policy["spec"]["podSelector"].get("matchLabels", {}).get(NAME, "*")
                found.append((f"{policy['metadata']['name']}/{side}:{selected}", side, names))
    return found


# -- one node: what it always rendered -------------------------------------------------------


@pytest.mark.parametrize("env", ["defaults", *ENVS])
def test_one_node_renders_no_cluster(env: str) -> None:
    rendered = cached_env_render(env)
    statefulset = rendered.get(*STATEFULSET)
    pod = statefulset["spec"]["template"]["spec"]
    container = _qdrant_container(rendered)
    assert statefulset["spec"]["replicas"] == 1
    assert "command" not in container and "args" not in container  # the image's entrypoint
    assert {p["name"] for p in container["ports"]} == {"http", "grpc"}
    assert not set(CLUSTER_ENV) & set(env_of(container))
    assert "topologySpreadConstraints" not in pod
    assert set(_service_ports(rendered, HEADLESS)) == {"http", "grpc"}
    assert rendered.find("PodDisruptionBudget", "myretail-qdrant") is None
    assert rendered.get("NetworkPolicy", "myretail-qdrant")["spec"]["egress"] == []
    assert _rules_on_port(rendered, P2P) == []
    assert not set(LAYOUT_ENV) & set(_rag_env(rendered))


# -- a cluster ---------------------------------------------------------------------------------


def test_replicas_run_qdrant_in_distributed_mode() -> None:
    statefulset = _cluster().get(*STATEFULSET)
    assert statefulset["spec"]["replicas"] == 3
    assert statefulset["spec"]["serviceName"] == HEADLESS
    # Every peer starts at once: with OrderedReady a restarted cluster waits on itself.
    assert statefulset["spec"]["podManagementPolicy"] == "Parallel"
    env = env_of(_qdrant_container(_cluster()))
    assert env["QDRANT__CLUSTER__ENABLED"] == "true"
    assert env["QDRANT__CLUSTER__P2P__PORT"] == str(P2P)
    # Collections created without their own layout (the restore Job's) get 2 copies.
    assert env["QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR"] == "2"
    assert env["QDRANT__STORAGE__COLLECTION__WRITE_CONSISTENCY_FACTOR"] == "1"


def test_the_p2p_port_is_on_the_pods_and_the_headless_service_only() -> None:
    ports = {p["name"]: p["containerPort"] for p in _qdrant_container(_cluster())["ports"]}
    assert ports == {"http": HTTP, "grpc": 6334, "p2p": P2P}
    headless = _cluster().get("Service", HEADLESS)
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True  # peers meet before Ready
    assert {"name": "p2p", "port": P2P, "targetPort": "p2p", "protocol": "TCP"} in headless["spec"][
        "ports"
    ]
    assert "p2p" not in _service_ports(_cluster(), "myretail-qdrant")  # what clients reach


def _start_command(pod: str, tmp_path: Path) -> list[str]:
    """The Qdrant command line the rendered start script runs in pod ``pod``: the script, run
    by bash with the pod's HOSTNAME, execs a stand-in for the image's entrypoint.sh that
    prints its arguments."""
    container = _qdrant_container(_cluster())
    assert container["command"] == ["/bin/bash", "-c"]
    (script,) = container["args"]
    entrypoint = tmp_path / "entrypoint.sh"
    entrypoint.write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    entrypoint.chmod(0o755)
    run = subprocess.run(
        ["/bin/bash", "-c", script],
        cwd=tmp_path,
        env={"PATH": os.environ["PATH"], "HOSTNAME": pod},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return run.stdout.splitlines()


def test_pod_0_starts_the_cluster_and_the_others_join_it(tmp_path: Path) -> None:
    first = f"http://myretail-qdrant-0.{HEADLESS}:{P2P}"
    assert _start_command("myretail-qdrant-0", tmp_path) == ["--uri", first]
    for index in (1, 2, 12):
        assert _start_command(f"myretail-qdrant-{index}", tmp_path) == [
            "--bootstrap",
            first,
            "--uri",
            f"http://myretail-qdrant-{index}.{HEADLESS}:{P2P}",
        ]


def test_a_disruption_budget_lets_one_peer_go_at_a_time() -> None:
    for values in (CLUSTER, {"qdrant": {"replicaCount": 3, "pdb": {"enabled": False}}}):
        pdb = render_env("prod", values).get("PodDisruptionBudget", "myretail-qdrant")
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["selector"]["matchLabels"] == {
            NAME: "qdrant",
            "app.kubernetes.io/instance": "myretail",
        }


def test_peers_spread_over_zones_and_never_share_a_node() -> None:
    pod = _cluster().get(*STATEFULSET)["spec"]["template"]["spec"]
    spread = {c["topologyKey"]: c for c in pod["topologySpreadConstraints"]}
    assert spread["topology.kubernetes.io/zone"]["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["kubernetes.io/hostname"]["whenUnsatisfiable"] == "DoNotSchedule"
    for constraint in spread.values():
        assert constraint["maxSkew"] == 1
        assert constraint["labelSelector"]["matchLabels"][NAME] == "qdrant"
    relaxed = render_env(
        "prod", {"qdrant": {"replicaCount": 3, "cluster": {"spread": {"node": "ScheduleAnyway"}}}}
    )
    constraints = relaxed.get(*STATEFULSET)["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert {c["whenUnsatisfiable"] for c in constraints} == {"ScheduleAnyway"}
    own = [{"maxSkew": 2, "topologyKey": "rack", "whenUnsatisfiable": "DoNotSchedule"}]
    rendered = render_env("prod", {"qdrant": {"replicaCount": 3, "topologySpreadConstraints": own}})
    assert (
        rendered.get(*STATEFULSET)["spec"]["template"]["spec"]["topologySpreadConstraints"] == own
    )


def test_the_p2p_port_is_open_only_between_qdrant_pods() -> None:
    rules = _rules_on_port(_cluster(), P2P)
    assert {(where, side) for where, side, _ in rules} == {
        ("myretail-qdrant/ingress:qdrant", "ingress"),
        ("myretail-qdrant/egress:qdrant", "egress"),
    }, rules
    assert all(peers == {"qdrant"} for _, _, peers in rules), rules
    policy = _cluster().get("NetworkPolicy", "myretail-qdrant")
    # The peers also reach each other's HTTP port (a shard sent as a snapshot is downloaded
    # there), and Qdrant reaches nothing else.
    (egress,) = policy["spec"]["egress"]
    assert {p["port"] for p in egress["ports"]} == {P2P, HTTP}
    # The RAG API, the restore and helm test still reach it on HTTP and gRPC, never p2p.
    clients = [rule for rule in policy["spec"]["ingress"] if P2P not in _ports(rule)]
    (client,) = clients
    assert _ports(client) == {HTTP, 6334}


def _ports(rule: dict[str, Any]) -> set[int]:
    return {p["port"] for p in rule["ports"]}


# -- the collection layout -------------------------------------------------------------------


def test_the_rag_api_and_the_restore_get_the_collection_layout_from_global_qdrant() -> None:
    layout = {"shards": 6, "replicationFactor": 3, "writeConsistencyFactor": 2}
    rendered = render_env("prod", {"qdrant": {"replicaCount": 3}, "global": {"qdrant": layout}})
    env = _rag_env(rendered)
    assert [env[name] for name in LAYOUT_ENV] == ["6", "3", "2"]
    # The restore hook creates the collections it fills: the same layout.
    restore = env_of(containers(rendered.get("Job", "myretail-catalog-restore"))[0])
    assert [restore[name] for name in LAYOUT_ENV] == ["6", "3", "2"]
    qdrant = env_of(_qdrant_container(rendered))
    assert qdrant["QDRANT__STORAGE__COLLECTION__REPLICATION_FACTOR"] == "3"
    assert qdrant["QDRANT__STORAGE__COLLECTION__WRITE_CONSISTENCY_FACTOR"] == "2"


def test_an_external_qdrant_cluster_gets_the_layout_too() -> None:
    rendered = render(
        {
            "qdrant": {"enabled": False},
            "global": {"qdrant": {"url": "https://qdrant.example:6333", "replicationFactor": 3}},
        }
    )
    assert rendered.find(*STATEFULSET) is None
    env = _rag_env(rendered)
    assert env["QDRANT_REPLICATION_FACTOR"] == "3"
    assert "QDRANT_SHARD_NUMBER" not in env  # unset: Qdrant's default


@pytest.mark.parametrize(
    ("values", "says"),
    [
        (
            {"qdrant": {"replicaCount": 2}, "global": {"qdrant": {"replicationFactor": 3}}},
            "global.qdrant.replicationFactor is 3 but qdrant.replicaCount is 2",
        ),
        (
            {"global": {"qdrant": {"replicationFactor": 2}}},
            "global.qdrant.replicationFactor is 2 but qdrant.replicaCount is 1",
        ),
        (
            {"qdrant": {"replicaCount": 3}, "global": {"qdrant": {"writeConsistencyFactor": 3}}},
            "global.qdrant.writeConsistencyFactor is 3 but the replication factor is 2",
        ),
    ],
)
def test_an_impossible_layout_fails_the_install(values: dict[str, Any], says: str) -> None:
    with pytest.raises(helm.HelmError, match=says):
        render_env("prod", values)


@pytest.mark.parametrize(
    ("values", "at"),
    [
        ({"qdrant": {"replicaCount": 0}}, "/qdrant/replicaCount"),
        ({"global": {"qdrant": {"shards": 0}}}, "/global/qdrant/shards"),
        ({"global": {"qdrant": {"replicationFactor": "two"}}}, "/global/qdrant/replicationFactor"),
        ({"qdrant": {"cluster": {"spread": {"zone": "Sometimes"}}}}, "/qdrant/cluster/spread/zone"),
    ],
)
def test_the_schema_refuses_bad_cluster_values(values: dict[str, Any], at: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=f"at '{at}'"):
        render(values)


# -- strict schemas and policy scanning ----------------------------------------------------


def test_the_cluster_render_validates_strictly() -> None:
    cluster_objects = [
        o for o in _cluster().objects if o["metadata"]["name"].startswith("myretail-qdrant")
    ]
    assert len(cluster_objects) >= 6
    for version in KUBERNETES_VERSIONS:
        for obj in [*cluster_objects, _cluster().get("Deployment", "myretail-rag-api")]:
            kubernetes_validate.validate(obj, version, strict=True)


def test_checkov_finds_nothing_outside_the_skip_list(tmp_path: Path) -> None:
    failed = checkov_failures(_cluster().objects, tmp_path)
    skips = checkov_skips._skips()
    unexpected = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in failed
        if not any(checkov_skips._covered(c, s) for s in skips)
    ]
    assert unexpected == [], "\n".join(unexpected)
