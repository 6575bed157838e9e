"""Production serving on vLLM (inference.engine=vllm, values/prod.yaml), rendered by the real
Helm engine: the official vLLM server in the inference pod with every flag the issue lists,
each one checked against the pinned release's own parser (tests/chart/data), the adapters
fetched by init containers, myretail-inference as the gateway in front, canary adapters, the
promotion gate of the check-tag hook, autoscaling on queue depth (HPA or KEDA), graceful drain
and tensor parallelism. The renders pass strict Kubernetes schemas and checkov; the native
engine (dev, the chart's defaults) renders as before."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import test_checkov as checkov_skips  # the chart's reasoned skip list and how an entry matches
from chart_render import (
    CHART,
    NAMESPACE,
    RELEASE,
    Rendered,
    cached_env_render,
    containers,
    deep_merge,
    env_of,
    install_values,
    pod_spec,
    render_env,
)
from test_kube_schemas import VERSIONS as KUBERNETES_VERSIONS

from myretail_testkit.chart_scans import checkov_report, render_with_api_versions

FLAGS_FILE = Path(__file__).parent / "data" / "vllm-serve-flags.txt"
INFERENCE = ("Deployment", "myretail-inference")
CHECK_TAG = ("Job", "myretail-inference-check-tag")
HPA = ("HorizontalPodAutoscaler", "myretail-inference")
CHAT_TEMPLATE = ("ConfigMap", "myretail-inference-chat-template")
GPU = "nvidia.com/gpu"
BASE = "meta-llama/Meta-Llama-3-8B"
VLLM_PORT = 8001
CANARY = {"inference": {"canary": {"tag": "v2", "weight": 10}}}
TENSOR_PARALLEL_2 = {"inference": {"vllm": {"tensorParallelSize": 2}, "gpu": {"count": 2}}}
KEDA = {"inference": {"autoscaling": {"keda": {"enabled": True}}}}
KEDA_API = "keda.sh/v1alpha1/ScaledObject"


# -- helpers -----------------------------------------------------------------------------------


@functools.cache
def _canary() -> Rendered:
    return render_env("prod", CANARY)


def _render_with_apis(
    overrides: dict[str, Any], api_versions: list[str], env: str = "prod"
) -> Rendered:
    """Render like `helm template --api-versions ...`: the cluster offers these APIs."""
    values = deep_merge(install_values(env), overrides)
    return Rendered(
        render_with_api_versions(CHART, values, api_versions, release=RELEASE, namespace=NAMESPACE)
    )


def _pod(rendered: Rendered) -> dict[str, Any]:
    spec = pod_spec(rendered.get(*INFERENCE))
    assert spec is not None
    return spec


def _container(rendered: Rendered, name: str, *, init: bool = False) -> dict[str, Any]:
    found = [c for c in containers(rendered.get(*INFERENCE), init=init) if c["name"] == name]
    assert len(found) == 1, f"{name}: {[c['name'] for c in containers(rendered.get(*INFERENCE))]}"
    return found[0]


def _vllm(rendered: Rendered) -> dict[str, Any]:
    return _container(rendered, "vllm")


def _gateway(rendered: Rendered) -> dict[str, Any]:
    return _container(rendered, "inference")


def _options(args: list[str]) -> dict[str, list[str]]:
    """--flag -> the values after it (empty for a switch)."""
    options: dict[str, list[str]] = {}
    current = None
    for arg in args:
        if arg.startswith("--"):
            current = arg
            assert current not in options, f"{current} given twice"
            options[current] = []
        else:
            assert current is not None, f"{arg} before any flag"
            options[current].append(arg)
    return options


def _one(args: list[str], flag: str) -> str:
    (value,) = _options(args)[flag]
    return value


def _mounts(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["mountPath"]: m for m in container.get("volumeMounts", [])}


def _volumes(rendered: Rendered) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in _pod(rendered)["volumes"]}


@functools.cache
def _pinned_flags() -> tuple[str, frozenset[str]]:
    """(the vLLM version the list was read from, its flags)."""
    lines = FLAGS_FILE.read_text().splitlines()
    version = lines[0].split()[3]
    return version, frozenset(line for line in lines if line.startswith("-"))


# -- prod: vLLM behind the gateway ----------------------------------------------------------


def test_prod_runs_the_pinned_official_vllm_image_next_to_the_gateway(prod: Rendered) -> None:
    assert [c["name"] for c in _pod(prod)["containers"]] == ["inference", "vllm"]
    version, _ = _pinned_flags()
    vllm = _vllm(prod)
    assert vllm["image"] == f"docker.io/vllm/vllm-openai:v{version}"
    assert vllm["command"] == ["vllm", "serve"]
    pinned = render_env(
        "prod", {"inference": {"vllm": {"image": {"digest": "sha256:" + "b" * 64}}}}
    )
    assert _vllm(pinned)["image"] == "docker.io/vllm/vllm-openai@sha256:" + "b" * 64
    with pytest.raises(helm.HelmValuesError, match="/inference/vllm/image/tag"):
        render_env("prod", {"inference": {"vllm": {"image": {"tag": "latest"}}}})


def test_vllm_gets_every_flag_the_issue_lists(prod: Rendered) -> None:
    options = _options(_vllm(prod)["args"])
    assert options["--model"] == [BASE]
    assert options["--served-model-name"] == [BASE]
    assert options["--enable-lora"] == []
    # The recipe's adapters have r=32; vLLM's default of 16 would refuse them.
    assert options["--max-lora-rank"] == ["32"]
    assert options["--max-loras"] == ["1"]
    assert options["--lora-modules"] == ["loyalty-assistant-v1=/adapters/v1"]
    assert options["--generation-config"] == ["vllm"]  # our sampling defaults, not the model's
    assert options["--quantization"] == ["fp8"]
    assert options["--max-model-len"] == ["8192"]
    assert options["--gpu-memory-utilization"] == ["0.9"]
    assert options["--tensor-parallel-size"] == ["1"]
    assert options["--port"] == [str(VLLM_PORT)]
    assert options["--shutdown-timeout"] == ["120"]
    # The base model downloads to the per-pod model-cache volume, writable.
    assert options["--download-dir"] == ["/cache/models"]
    cache = _mounts(_vllm(prod))["/cache"]
    assert cache["name"] == "model-cache" and not cache.get("readOnly")
    bf16 = render_env("prod", {"inference": {"vllm": {"quantization": ""}}})
    assert "--quantization" not in _vllm(bf16)["args"]


def test_every_rendered_flag_is_one_the_pinned_release_parses(prod: Rendered) -> None:
    version, flags = _pinned_flags()
    assert {"--enable-lora", "--lora-modules", "--generation-config", "--model"} <= flags
    assert len(flags) > 200, "the whole parser was read"
    extra = {"inference": {"vllm": {"extraArgs": ["--max-num-seqs", "128"]}}}
    for rendered in (prod, _canary(), render_env("prod", deep_merge(TENSOR_PARALLEL_2, extra))):
        used = {arg for arg in _vllm(rendered)["args"] if arg.startswith("-")}
        assert used <= flags, f"not flags of vllm {version}: {sorted(used - flags)}"


def test_the_chat_template_is_llama3s_from_a_config_map(prod: Rendered) -> None:
    template_path = _one(_vllm(prod)["args"], "--chat-template")
    folder, file_name = template_path.rsplit("/", 1)
    mount = _mounts(_vllm(prod))[folder]
    assert mount["readOnly"] is True
    volume = _volumes(prod)[mount["name"]]
    assert volume["configMap"]["name"] == CHAT_TEMPLATE[1]
    template = prod.get(*CHAT_TEMPLATE)["data"][file_name]
    for token in ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", "bos_token"):
        assert token in template
    assert "add_generation_prompt" in template


def test_vllm_writes_only_to_its_volumes_and_reads_the_hf_token_from_a_secret(
    prod: Rendered,
) -> None:
    vllm = _vllm(prod)
    assert vllm["securityContext"]["readOnlyRootFilesystem"] is True
    env = env_of(vllm)
    writable = {path for path, m in _mounts(vllm).items() if not m.get("readOnly")}
    for name in ("HOME", "HF_HOME", "XDG_CACHE_HOME", "VLLM_CACHE_ROOT", "TRITON_CACHE_DIR"):
        assert env[name].startswith(tuple(f"{p}/" for p in writable)), name
    assert env["HF_TOKEN"]["secretKeyRef"] == {
        "name": "myretail-huggingface",
        "key": "HUGGING_FACE_HUB_TOKEN",
        "optional": True,
    }
    assert env["VLLM_NO_USAGE_STATS"] == "1"
    shm = _volumes(prod)[_mounts(vllm)["/dev/shm"]["name"]]["emptyDir"]
    assert shm["medium"] == "Memory" and shm["sizeLimit"] == "4Gi"


def test_vllm_probes_its_health_with_room_for_a_multi_gb_download(prod: Rendered) -> None:
    vllm = _vllm(prod)
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert vllm[kind]["httpGet"] == {"path": "/health", "port": VLLM_PORT}, kind
    startup = vllm["startupProbe"]
    assert startup["failureThreshold"] * startup["periodSeconds"] >= 30 * 60
    # The gateway is ready only with vLLM: its startup budget covers vLLM's.
    gateway = _gateway(prod)["startupProbe"]
    assert gateway["httpGet"]["path"] == "/readyz"
    assert (
        gateway["failureThreshold"] * gateway["periodSeconds"]
        >= startup["failureThreshold"] * startup["periodSeconds"]
    )


def test_init_containers_wait_for_the_tag_then_fetch_its_adapter(prod: Rendered) -> None:
    inits = _pod(prod)["initContainers"]
    assert [c["name"] for c in inits] == ["wait-for-model", "fetch-adapter"]
    fetch = inits[1]
    assert fetch["image"] == _gateway(prod)["image"]  # our image carries myretail-store
    assert fetch["command"] == ["myretail-store", "fetch"]
    assert fetch["args"] == ["loyalty-assistant", "v1", "/adapters/v1", "--base-model", BASE]
    assert env_of(fetch)["MODEL_STORE_URI"] == "s3://myretail-model-assets/models"
    assert not _mounts(fetch)["/adapters"].get("readOnly")
    assert _mounts(_vllm(prod))["/adapters"]["readOnly"] is True
    assert _volumes(prod)["adapters"]["emptyDir"]["sizeLimit"]


def test_the_gateway_fronts_vllm_on_the_same_port_and_api_without_a_gpu(prod: Rendered) -> None:
    gateway = _gateway(prod)
    env = env_of(gateway)
    assert env["ENGINE"] == "remote"
    assert env["UPSTREAM_BASE_URL"] == f"http://127.0.0.1:{VLLM_PORT}/v1"
    assert env["UPSTREAM_TIMEOUT_SECONDS"] == "120"
    assert env["MODEL_NAME"] == "loyalty-assistant" and env["MODEL_TAG"] == "v1"
    assert "QUANTIZATION" not in env  # vLLM's --quantization
    # The gateway loads the tag's tokenizer and the base's context window (no weights) from
    # the store, with the fetch container's settings, into a writable cache.
    fetch = _container(prod, "fetch-adapter", init=True)
    assert env["MODEL_STORE_URI"] == env_of(fetch)["MODEL_STORE_URI"]
    assert {k: v for k, v in env.items() if k.startswith("AWS_")} == {
        k: v for k, v in env_of(fetch).items() if k.startswith("AWS_")
    }
    cache = env["MODEL_CACHE_DIR"]
    assert any(cache.startswith(path) for path in _mounts(gateway)), "a writable cache"
    assert not _mounts(gateway)[cache.rsplit("/", 1)[0]].get("readOnly")
    assert [p["containerPort"] for p in gateway["ports"]] == [8000]
    for kind in ("requests", "limits"):
        assert GPU not in gateway["resources"][kind]
        assert _vllm(prod)["resources"][kind][GPU] == 1
    assert "ports" not in _vllm(prod), "vLLM's port stays inside the pod"
    service = prod.get("Service", "myretail-inference")
    assert [p["port"] for p in service["spec"]["ports"]] == [8000]
    policy = prod.get("NetworkPolicy", "myretail-inference")
    opened = {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}
    assert opened == {8000}


def test_the_pod_template_records_the_tag_it_serves(prod: Rendered) -> None:
    annotations = prod.get(*INFERENCE)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["myretail.io/model-tag"] == "v1"
    rolled = render_env("prod", {"inference": {"model": {"tag": "v3"}}})
    template = rolled.get(*INFERENCE)["spec"]["template"]["metadata"]["annotations"]
    assert template["myretail.io/model-tag"] == "v3"


# -- canary -----------------------------------------------------------------------------------


def test_a_canary_serves_a_second_adapter_from_the_same_pods() -> None:
    rendered = _canary()
    options = _options(_vllm(rendered)["args"])
    assert options["--lora-modules"] == [
        "loyalty-assistant-v1=/adapters/v1",
        "loyalty-assistant-v2=/adapters/v2",
    ]
    assert options["--max-loras"] == ["2"]
    fetches = [c for c in _pod(rendered)["initContainers"] if c["command"][1] == "fetch"]
    assert [c["args"][:3] for c in fetches] == [
        ["loyalty-assistant", "v1", "/adapters/v1"],
        ["loyalty-assistant", "v2", "/adapters/v2"],
    ]
    env = env_of(_gateway(rendered))
    assert (env["CANARY_TAG"], env["CANARY_WEIGHT"]) == ("v2", "10")
    # The check before the upgrade also refuses a canary tag nobody published.
    checks = {c["name"]: c["args"] for c in containers(rendered.get(*CHECK_TAG))}
    assert checks["check-canary-tag"] == ["--model", "loyalty-assistant", "--tag", "v2"]


def test_weight_zero_rolls_the_canary_back_with_both_adapters_loaded() -> None:
    rendered = render_env("prod", {"inference": {"canary": {"tag": "v2", "weight": 0}}})
    assert env_of(_gateway(rendered))["CANARY_WEIGHT"] == "0"
    assert len(_options(_vllm(rendered)["args"])["--lora-modules"]) == 2


def test_no_canary_renders_no_trace_of_one(prod: Rendered) -> None:
    assert not {"CANARY_TAG", "CANARY_WEIGHT"} & set(env_of(_gateway(prod)))
    assert [c["name"] for c in containers(prod.get(*CHECK_TAG))] == ["check-tag"]


def test_the_native_engine_gets_the_canary_too() -> None:
    rendered = render_env("dev", {"inference": {"canary": {"tag": "tiny-2", "weight": 100}}})
    env = env_of(_gateway(rendered))
    assert (env["CANARY_TAG"], env["CANARY_WEIGHT"]) == ("tiny-2", "100")


@pytest.mark.parametrize(
    ("canary", "says"),
    [
        ({"tag": "v1", "weight": 10}, "inference.canary.tag v1 is inference.model.tag already"),
        ({"tag": "v2", "weight": 101}, "at '/inference/canary/weight'"),
        ({"tag": "v 2", "weight": 10}, "at '/inference/canary/tag'"),
    ],
)
def test_a_bad_canary_is_refused(canary: dict[str, Any], says: str) -> None:
    with pytest.raises(helm.HelmError, match=says):
        render_env("prod", {"inference": {"canary": canary}})


# -- promotion gate ---------------------------------------------------------------------------


def _check_args(overrides: dict[str, Any]) -> list[str]:
    rendered = render_env("prod", overrides, is_upgrade=True)
    return containers(rendered.get(*CHECK_TAG))[0]["args"]


def test_the_upgrade_check_compares_with_the_serving_tag() -> None:
    gate = {"inference": {"model": {"tag": "v2"}, "promotion": {"against": "v1"}}}
    assert _check_args(gate) == [
        "--model",
        "loyalty-assistant",
        "--tag",
        "v2",
        "--against",
        "v1",
        "--max-accuracy-drop",
        "0.02",
    ]
    override = deep_merge(
        gate, {"inference": {"promotion": {"allowRegression": True, "maxAccuracyDrop": 0.05}}}
    )
    assert _check_args(override)[-3:] == ["--max-accuracy-drop", "0.05", "--allow-regression"]


def test_without_a_serving_tag_there_is_nothing_to_compare(prod: Rendered) -> None:
    # Offline (helm template, first install) lookup finds no live Deployment.
    assert containers(prod.get(*CHECK_TAG))[0]["args"] == [
        "--model",
        "loyalty-assistant",
        "--tag",
        "v1",
    ]
    assert _check_args({"inference": {"promotion": {"allowRegression": True}}})[-1] == "v1"
    template = (CHART / "templates" / "hook-check-tag-job.yaml").read_text()
    assert 'lookup "apps/v1" "Deployment"' in template and "myretail.io/model-tag" in template


@pytest.mark.parametrize(
    ("promotion", "at"),
    [
        ({"maxAccuracyDrop": 1.5}, "maxAccuracyDrop"),
        ({"allowRegression": "yes"}, "allowRegression"),
    ],
)
def test_the_schema_refuses_a_bad_gate(promotion: dict[str, Any], at: str) -> None:
    with pytest.raises(helm.HelmValuesError, match=f"/inference/promotion/{at}"):
        render_env("prod", {"inference": {"promotion": promotion}})


# -- tensor parallelism -----------------------------------------------------------------------


def test_tensor_parallelism_gets_as_many_gpus() -> None:
    rendered = render_env("prod", TENSOR_PARALLEL_2)
    vllm = _vllm(rendered)
    assert _one(vllm["args"], "--tensor-parallel-size") == "2"
    assert vllm["resources"]["limits"][GPU] == vllm["resources"]["requests"][GPU] == 2
    assert GPU not in _gateway(rendered)["resources"]["limits"]


@pytest.mark.parametrize(
    ("inference", "says"),
    [
        (
            {"vllm": {"tensorParallelSize": 2}},
            "inference.vllm.tensorParallelSize is 2 but inference.gpu.count is 1",
        ),
        ({"gpu": {"count": 4}}, "inference.vllm.tensorParallelSize is 1 but inference.gpu.count"),
        ({"vllm": {"tensorParallelSize": 3}, "gpu": {"count": 3}}, "/tensorParallelSize"),
        ({"gpu": {"enabled": False}}, "inference.engine=vllm serves on GPUs"),
    ],
)
def test_a_gpu_count_that_does_not_match_is_refused(inference: dict[str, Any], says: str) -> None:
    with pytest.raises(helm.HelmError, match=says):
        render_env("prod", {"inference": inference})


# -- the native engine ------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["defaults", "dev", "staging"])
def test_the_native_engine_renders_one_server_as_before(env: str) -> None:
    rendered = cached_env_render(env)
    spec = _pod(rendered)
    assert [c["name"] for c in spec["containers"]] == ["inference"]
    assert [c["name"] for c in spec["initContainers"]] == ["wait-for-model"]
    env_vars = env_of(spec["containers"][0])
    assert env_vars["ENGINE"] == "native"
    assert {"QUANTIZATION", "MODEL_CACHE_DIR", "MODEL_STORE_URI"} <= set(env_vars)
    assert "UPSTREAM_BASE_URL" not in env_vars
    assert rendered.find(*CHAT_TEMPLATE) is None
    assert "vllm" not in json.dumps(rendered.get(*INFERENCE))


def test_the_schema_refuses_an_unknown_engine() -> None:
    with pytest.raises(helm.HelmValuesError, match="/inference/engine"):
        render_env("dev", {"inference": {"engine": "tgi"}})


# -- autoscaling on queue depth ---------------------------------------------------------------


def test_prod_scales_on_vllms_waiting_requests(prod: Rendered) -> None:
    hpa = prod.get(*HPA)["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 4)
    assert hpa["metrics"] == [
        {
            "type": "Pods",
            "pods": {
                "metric": {"name": "vllm:num_requests_waiting"},
                "target": {"type": "AverageValue", "averageValue": "4"},
            },
        }
    ]
    assert hpa["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert "cpu" not in json.dumps(hpa), "a GPU-bound server never trips a CPU target"


def test_the_native_engine_scales_on_its_own_queue() -> None:
    rendered = render_env("dev", {"inference": {"autoscaling": {"enabled": True}}})
    (metric,) = rendered.get(*HPA)["spec"]["metrics"]
    assert metric["pods"]["metric"]["name"] == "inference_queue_depth"
    own = [{"type": "Resource", "resource": {"name": "memory"}}]
    mine = render_env("dev", {"inference": {"autoscaling": {"enabled": True, "metrics": own}}})
    assert mine.get(*HPA)["spec"]["metrics"] == own


def test_keda_scales_on_the_queue_where_its_crd_exists() -> None:
    rendered = _render_with_apis(KEDA, [KEDA_API])
    assert rendered.find(*HPA) is None, "KEDA owns the HPA"
    (scaled,) = rendered.of_kind("ScaledObject")
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "myretail-inference",
    }
    assert (spec["minReplicaCount"], spec["maxReplicaCount"]) == (2, 4)
    behavior = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 600
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "prometheus" and trigger["metricType"] == "AverageValue"
    assert trigger["metadata"] == {
        "serverAddress": "http://prometheus-operated.monitoring.svc:9090",
        "query": (
            'sum(vllm:num_requests_waiting{namespace="myretail",pod=~"myretail-inference-.*"})'
        ),
        "threshold": "4",
    }
    native = _render_with_apis(
        deep_merge(KEDA, {"inference": {"autoscaling": {"enabled": True}}}), [KEDA_API], "dev"
    )
    (scaled,) = native.of_kind("ScaledObject")
    assert scaled["spec"]["triggers"][0]["metadata"]["query"].startswith(
        "sum(inference_queue_depth{"
    )


def test_keda_without_its_crd_fails_and_says_what_to_do() -> None:
    with pytest.raises(helm.HelmError, match=r"needs KEDA.*keda\.sh/v1alpha1.*--api-versions"):
        render_env("prod", KEDA)
    with pytest.raises(helm.HelmError, match="needs KEDA"):
        _render_with_apis(KEDA, ["monitoring.coreos.com/v1/ServiceMonitor"])


# -- graceful drain ---------------------------------------------------------------------------


def test_pods_drain_before_they_stop(prod: Rendered) -> None:
    spec = _pod(prod)
    for container in (_gateway(prod), _vllm(prod)):
        assert container["lifecycle"]["preStop"] == {"sleep": {"seconds": 10}}, container["name"]
    assert env_of(_gateway(prod))["DRAIN_SECONDS"] == "120"
    assert _one(_vllm(prod)["args"], "--shutdown-timeout") == "120"
    assert spec["terminationGracePeriodSeconds"] > 10 + 120
    native = _pod(cached_env_render("dev"))
    assert native["containers"][0]["lifecycle"]["preStop"] == {"sleep": {"seconds": 10}}
    assert env_of(native["containers"][0])["DRAIN_SECONDS"] == "120"


def test_a_grace_period_shorter_than_the_drain_is_refused() -> None:
    with pytest.raises(helm.HelmError, match=r"must exceed drain.preStopSeconds \+ drain"):
        render_env("prod", {"inference": {"terminationGracePeriodSeconds": 100}})


# -- strict schemas and policy scanning -------------------------------------------------------


def _inference_objects(rendered: Rendered) -> list[dict[str, Any]]:
    return [o for o in rendered.objects if o["metadata"]["name"].startswith("myretail-inference")]


def test_the_vllm_renders_validate_strictly() -> None:
    renders = [cached_env_render("prod"), _canary(), render_env("prod", TENSOR_PARALLEL_2)]
    for version in KUBERNETES_VERSIONS:
        for rendered in renders:
            objects = _inference_objects(rendered)
            assert {o["kind"] for o in objects} >= {"Deployment", "ConfigMap", "Job"}
            for obj in objects:
                kubernetes_validate.validate(obj, version, strict=True)


def test_checkov_finds_nothing_outside_the_skip_list(tmp_path: Path) -> None:
    """The whole prod render with a canary (both fetches, the ConfigMap, both checks)."""
    objects = _canary().objects
    report = checkov_report(objects, tmp_path)
    summary, results = report["summary"], report["results"]
    assert summary["parsing_errors"] == 0 and summary["resource_count"] >= len(objects) - 5
    failed = {(c["check_id"], c["resource"], c["check_name"]) for c in results["failed_checks"]}
    outside = sorted(
        f"{check_id} {resource}: {name}"
        for check_id, resource, name in failed
        if not any(
            checkov_skips._covered({"check_id": check_id, "resource": resource}, skip)
            for skip in checkov_skips._skips()
        )
    )
    assert outside == [], "\n".join(outside)
