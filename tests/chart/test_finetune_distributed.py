"""Fine-tuning on several GPUs and nodes (finetune.gpusPerNode, finetune.nodes,
finetune.distributed), rendered by the real Helm engine: the torchrun command line (parsed by
torchrun's own parser), the GPU request, the Indexed Job with its headless Service for the
c10d rendezvous, the NetworkPolicy between the gang's pods, the Kubeflow Trainer TrainJob,
and the values the install refuses. One GPU on one node renders what it always did. The
distributed renders pass strict Kubernetes schema validation and checkov."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import test_checkov as checkov_skips  # the chart's reasoned skip list and how an entry matches
from chart_render import (
    CHART,
    ENVS,
    NAMESPACE,
    RELEASE,
    Rendered,
    containers,
    deep_merge,
    env_of,
    install_values,
    pod_labels,
    pod_spec,
    render,
    render_env,
)
from test_kube_schemas import VERSIONS as KUBERNETES_VERSIONS

from myretail_testkit.chart_scans import checkov_failures, render_with_api_versions

JOB = ("Job", "myretail-finetune-v2")
TRAINJOB = ("TrainJob", "myretail-finetune-v2")
RENDEZVOUS = ("Service", "myretail-finetune-rendezvous")
POLICY = ("NetworkPolicy", "myretail-finetune")
GPU = "nvidia.com/gpu"
NAME = "app.kubernetes.io/name"
TRAINJOB_API = "trainer.kubeflow.org/v1alpha1/TrainJob"
LAUNCHER = ["python", "-m", "myretail_finetune.launch"]
STORE_CHECKPOINTS = {"checkpoints": {"location": "store"}}


def _finetune(**values: Any) -> dict[str, Any]:
    return {"finetune": {"enabled": True, "model": {"tag": "v2"}, **values}}


@functools.cache
def _one_gpu(env: str) -> Rendered:
    return render_env(env, _finetune())


@functools.cache
def _four_gpus() -> Rendered:
    return render_env("prod", _finetune(gpusPerNode=4))


@functools.cache
def _three_nodes() -> Rendered:
    return render_env("prod", _finetune(gpusPerNode=2, nodes=3, **STORE_CHECKPOINTS))


@functools.cache
def _kubeflow() -> Rendered:
    """prod on a cluster with Kubeflow Trainer (its TrainJob API)."""
    values = _finetune(gpusPerNode=4, nodes=2, distributed={"operator": "kubeflow"})
    values = deep_merge(install_values("prod"), deep_merge(values, {"finetune": STORE_CHECKPOINTS}))
    return Rendered(
        render_with_api_versions(
            CHART, values, [TRAINJOB_API], release=RELEASE, namespace=NAMESPACE
        )
    )


def _container(rendered: Rendered) -> dict[str, Any]:
    (container,) = containers(rendered.get(*JOB))
    return container


def _torchrun(args: list[str], node_rank: str = "0") -> Any:
    """The container's arguments as torchrun's own parser reads them."""
    from torch.distributed.run import parse_args

    return parse_args([a.replace("$(JOB_COMPLETION_INDEX)", node_rank) for a in args])


# -- one GPU, one node: what it always rendered ------------------------------------------------


@pytest.mark.parametrize("env", ENVS)
def test_one_gpu_on_one_node_renders_the_plain_job(env: str) -> None:
    rendered = _one_gpu(env)
    job = rendered.get(*JOB)
    container = _container(rendered)
    assert "command" not in container and container["args"] == ["train"]  # the image's CLI
    assert "ports" not in container and "JOB_COMPLETION_INDEX" not in env_of(container)
    assert "completionMode" not in job["spec"] and "completions" not in job["spec"]
    assert "subdomain" not in pod_spec(job)  # type: ignore[operator]
    assert job["spec"]["backoffLimit"] == 6
    gpus = container["resources"]["limits"].get(GPU)
    assert gpus == (None if env == "dev" else 1)
    assert rendered.find(*RENDEZVOUS) is None and not rendered.of_kind("TrainJob")
    assert "ingress" not in rendered.get(*POLICY)["spec"]


# -- several GPUs on one node -------------------------------------------------------------------


def test_gpus_per_node_starts_one_process_per_gpu() -> None:
    container = _container(_four_gpus())
    assert container["command"] == LAUNCHER
    launch = _torchrun(container["args"])
    assert (launch.nproc_per_node, launch.nnodes, launch.standalone) == ("4", "1", True)
    assert (launch.module, launch.training_script, launch.training_script_args) == (
        True,
        "myretail_finetune",
        ["train"],
    )
    resources = container["resources"]
    assert resources["limits"][GPU] == resources["requests"][GPU] == 4
    job = _four_gpus().get(*JOB)
    assert "completionMode" not in job["spec"]  # one pod: no rendezvous between pods
    assert _four_gpus().find(*RENDEZVOUS) is None


def test_processes_per_pod_on_the_cpu_request_no_gpu() -> None:
    rendered = render_env("dev", _finetune(gpusPerNode=2))
    container = _container(rendered)
    assert _torchrun(container["args"]).nproc_per_node == "2"
    assert GPU not in container["resources"]["limits"]


def test_gpu_count_and_gpus_per_node_must_agree() -> None:
    with pytest.raises(helm.HelmError, match=r"finetune.gpu.count \(2\) and finetune.gpusPerNode"):
        render_env("prod", _finetune(gpusPerNode=4, gpu={"count": 2}))


# -- several nodes: an Indexed Job and its rendezvous ----------------------------------------


def test_nodes_run_an_indexed_job_that_fails_as_a_gang() -> None:
    job = _three_nodes().get(*JOB)
    spec = job["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", 3, 3)
    assert spec["backoffLimit"] == 6 * 3  # an attempt fails all three pods
    rules = spec["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    assert rules[1]["action"] == "FailJob" and rules[1]["onExitCodes"]["values"] == [2, 3, 5, 6]
    pod = pod_spec(job)
    assert pod is not None and pod["subdomain"] == RENDEZVOUS[1]
    assert pod["restartPolicy"] == "Never"


def test_every_node_meets_at_pod_0_through_the_headless_service() -> None:
    container = _container(_three_nodes())
    assert container["command"] == LAUNCHER
    for rank in ("0", "2"):
        launch = _torchrun(container["args"], rank)
        assert (launch.nproc_per_node, launch.nnodes, launch.node_rank) == ("2", "3", int(rank))
        assert launch.rdzv_backend == "c10d"
        assert launch.rdzv_endpoint == f"{JOB[1]}-0.{RENDEZVOUS[1]}:29500"
        assert launch.rdzv_id == JOB[1]
        assert not launch.standalone
    index = next(e for e in container["env"] if e["name"] == "JOB_COMPLETION_INDEX")
    assert index["valueFrom"]["fieldRef"]["fieldPath"] == (
        "metadata.annotations['batch.kubernetes.io/job-completion-index']"
    )
    assert container["ports"] == [{"name": "rendezvous", "containerPort": 29500, "protocol": "TCP"}]
    service = _three_nodes().get(*RENDEZVOUS)
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    selector = service["spec"]["selector"]
    assert selector.items() <= pod_labels(_three_nodes().get(*JOB)).items()
    assert service["spec"]["ports"] == [
        {"name": "rendezvous", "port": 29500, "targetPort": "rendezvous", "protocol": "TCP"}
    ]


def test_the_rendezvous_port_is_a_value() -> None:
    rendered = render_env(
        "prod",
        _finetune(nodes=2, distributed={"rendezvousPort": 29600}, **STORE_CHECKPOINTS),
    )
    (container,) = containers(rendered.get(*JOB))
    assert _torchrun(container["args"]).rdzv_endpoint.endswith(":29600")
    assert rendered.get(*RENDEZVOUS)["spec"]["ports"][0]["port"] == 29600


def test_the_gang_reaches_only_its_own_pods() -> None:
    policy = _three_nodes().get(*POLICY)["spec"]
    own = {NAME: "finetune", "app.kubernetes.io/instance": RELEASE}
    (ingress,) = policy["ingress"]
    assert [peer["podSelector"]["matchLabels"] for peer in ingress["from"]] == [own]
    gang_egress = [rule for rule in policy["egress"] if "podSelector" in rule["to"][0]]
    assert [rule["to"][0]["podSelector"]["matchLabels"] for rule in gang_egress] == [own]
    for rule in [ingress, *gang_egress]:
        # NCCL and gloo listen on ports they pick: the unprivileged range, own pods only.
        assert rule["ports"] == [{"protocol": "TCP", "port": 1024, "endPort": 65535}]
    # Everything else is as on one node: the store and the hub over HTTPS.
    outside = [rule for rule in policy["egress"] if rule not in gang_egress]
    assert outside == _one_gpu("prod").get(*POLICY)["spec"]["egress"]


def test_several_nodes_need_a_checkpoint_location_every_node_reaches() -> None:
    # dev keeps checkpoints on a (ReadWriteOnce) volume of its own.
    with pytest.raises(helm.HelmError, match=r"finetune\.nodes > 1 needs one checkpoint location"):
        render_env("dev", _finetune(nodes=2))
    shared = {"checkpoints": {"persistence": {"existingClaim": "finetune-rwx"}}}
    rendered = render_env("dev", _finetune(nodes=2, **shared))
    volumes = {v["name"]: v for v in pod_spec(rendered.get(*JOB))["volumes"]}  # type: ignore[index]
    assert volumes["checkpoints"]["persistentVolumeClaim"]["claimName"] == "finetune-rwx"
    assert rendered.find("PersistentVolumeClaim", "myretail-finetune-checkpoints") is None


# -- Kubeflow Trainer ---------------------------------------------------------------------------


def test_kubeflow_renders_a_trainjob_instead_of_the_job() -> None:
    rendered = _kubeflow()
    assert rendered.find(*JOB) is None and rendered.find(*RENDEZVOUS) is None
    trainjob = rendered.get(*TRAINJOB)
    assert trainjob["apiVersion"] == "trainer.kubeflow.org/v1alpha1"
    spec = trainjob["spec"]
    assert spec["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": "torch-distributed",
    }
    trainer = spec["trainer"]
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (2, 4)
    assert trainer["resourcesPerNode"]["limits"][GPU] == 4
    # torchrun takes nodes, rank, processes and rendezvous from the runtime's PET_* variables.
    assert trainer["command"] == LAUNCHER
    assert trainer["args"] == ["-m", "myretail_finetune", "train"]
    env = env_of(trainer)
    assert env["MODEL_TAG"] == "v2" and env["FINETUNE_PROFILE"] == "qlora"
    (patch,) = spec["runtimePatches"]
    (node,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = node["template"]["spec"]["template"]
    assert pod["metadata"]["labels"][NAME] == "finetune"  # the NetworkPolicy selects them
    assert pod["spec"]["serviceAccountName"] == "myretail-finetune"  # IRSA
    assert pod["spec"]["tolerations"][0]["key"] == GPU
    (container,) = pod["spec"]["containers"]
    assert container["name"] == "node" and container["securityContext"]["readOnlyRootFilesystem"]
    assert {m["name"] for m in container["volumeMounts"]} == {"cache", "tmp"}
    assert "ingress" in rendered.get(*POLICY)["spec"]  # its pods reach each other


def test_kubeflow_without_its_crd_fails_the_install() -> None:
    with pytest.raises(helm.HelmError, match="needs Kubeflow Trainer: its TrainJob CRD"):
        render_env("prod", _finetune(distributed={"operator": "kubeflow"}))


# -- values the schema refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "at"),
    [
        ({"gpusPerNode": 0}, "/finetune/gpusPerNode"),
        ({"nodes": 0}, "/finetune/nodes"),
        ({"nodes": "two"}, "/finetune/nodes"),
        ({"distributed": {"operator": "mpi"}}, "/finetune/distributed/operator"),
        ({"distributed": {"rendezvousPort": 80}}, "/finetune/distributed/rendezvousPort"),
        ({"distributed": {"launcher": "accelerate"}}, "/finetune/distributed"),
    ],
)
def test_the_schema_refuses_bad_distributed_values(values: dict[str, Any], at: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=f"at '{at}'"):
        render(_finetune(**values))


# -- strict schemas and policy scanning ------------------------------------------------------


def test_distributed_renders_validate_strictly() -> None:
    for version in KUBERNETES_VERSIONS:
        for obj in [
            _one_gpu("prod").get(*JOB),
            _four_gpus().get(*JOB),
            _three_nodes().get(*JOB),
            _three_nodes().get(*RENDEZVOUS),
            _three_nodes().get(*POLICY),
            _kubeflow().get(*POLICY),
        ]:
            kubernetes_validate.validate(obj, version, strict=True)


def test_checkov_finds_nothing_outside_the_skip_list(tmp_path: Path) -> None:
    skips = checkov_skips._skips()
    unexpected = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in checkov_failures(_three_nodes().objects, tmp_path)
        if not any(checkov_skips._covered(c, s) for s in skips)
    ]
    assert unexpected == [], "\n".join(unexpected)
