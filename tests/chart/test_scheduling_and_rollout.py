"""What users rely on when they roll out: GPU placement and model-tag rollouts."""

from __future__ import annotations

import json

import pytest
from chart_render import (
    Rendered,
    annotations,
    containers,
    env_of,
    install_values,
    pod_spec,
    render,
    render_env,
    set_path,
)

GPU = "nvidia.com/gpu"
INFERENCE = ("Deployment", "myretail-inference")
CHECK_TAG = ("Job", "myretail-inference-check-tag")


def _finetune_run(env: str) -> Rendered:
    return render_env(env, {"finetune": {"enabled": True, "model": {"tag": "v2"}}})


def _gpu_workloads(rendered: Rendered) -> dict[str, dict]:
    found = {}
    for obj in rendered.objects:
        spec = pod_spec(obj)
        if spec is None:
            continue
        limits = [c.get("resources", {}).get("limits", {}) for c in containers(obj)]
        if any(GPU in lim for lim in limits):
            found[obj["metadata"]["name"]] = spec
    return found


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_gpu_scheduling_on_eks(env: str) -> None:
    rendered = _finetune_run(env)
    workloads = _gpu_workloads(rendered)
    assert set(workloads) == {"myretail-inference", "myretail-finetune-v2"}
    for name, spec in workloads.items():
        assert spec["nodeSelector"]["nvidia.com/gpu.present"] == "true", name
        assert {"key": GPU, "operator": "Exists", "effect": "NoSchedule"} in spec["tolerations"]
        # One container holds the GPU (prod's inference: vLLM, not its gateway).
        (container,) = [c for c in spec["containers"] if GPU in c["resources"]["limits"]]
        assert container["resources"]["limits"][GPU] == 1, name
        assert container["resources"]["requests"][GPU] == 1, name


def test_prod_gpu_pods_run_on_spot_capacity() -> None:
    for name, spec in _gpu_workloads(_finetune_run("prod")).items():
        assert spec["nodeSelector"]["eks.amazonaws.com/capacityType"] == "SPOT", name


def test_prod_serves_llama3_8b_quantized() -> None:
    # On vLLM (its release has no bitsandbytes): FP8 weights, 8 GB for Llama 3 8B.
    _, engine = containers(render_env("prod").get(*INFERENCE), init=False)
    args = engine["args"]
    assert args[args.index("--model") + 1] == "meta-llama/Meta-Llama-3-8B"
    assert args[args.index("--quantization") + 1] == "fp8"
    job = _finetune_run("prod").get("Job", "myretail-finetune-v2")
    env = env_of(containers(job)[0])
    assert env["BASE_MODEL"] == "meta-llama/Meta-Llama-3-8B"
    assert env["FINETUNE_PROFILE"] == "qlora"


def test_no_gpu_scheduling_in_dev() -> None:
    rendered = _finetune_run("dev")
    assert rendered.find("Job", "myretail-finetune-v2") is not None
    text = json.dumps(rendered.objects)
    assert GPU not in text, "dev must schedule nothing on GPUs"
    (container,) = containers(rendered.get(*INFERENCE), init=False)
    assert env_of(container)["QUANTIZATION"] == "none"


def _upgrade(tag: str) -> Rendered:
    values = set_path(install_values("prod"), "inference.model.tag", tag)
    return render(values, is_upgrade=True)


def test_new_model_tag_changes_the_inference_pod_template_and_nothing_else() -> None:
    before, after = _upgrade("v1"), _upgrade("v2")
    assert before.names() == after.names()
    changed = {
        (o["kind"], o["metadata"]["name"])
        for o in after.objects
        if o != before.get(o["kind"], o["metadata"]["name"])
        and "helm.sh/hook" not in annotations(o)
    }
    assert changed == {INFERENCE}, changed

    old, new = before.get(*INFERENCE), after.get(*INFERENCE)
    assert {k: v for k, v in old.items() if k != "spec"} == {
        k: v for k, v in new.items() if k != "spec"
    }
    assert {k: v for k, v in old["spec"].items() if k != "template"} == {
        k: v for k, v in new["spec"].items() if k != "template"
    }
    old_sum = old["spec"]["template"]["metadata"]["annotations"]["checksum/model"]
    new_sum = new["spec"]["template"]["metadata"]["annotations"]["checksum/model"]
    assert old_sum != new_sum, "the pod-template annotation must follow the model tag"
    assert env_of(containers(new)[0])["MODEL_TAG"] == "v2"

    # The only hook that changes is the check of the new tag.
    changed_hooks = {
        (o["kind"], o["metadata"]["name"])
        for o in after.hooks()
        if o != before.get(o["kind"], o["metadata"]["name"])
    }
    assert changed_hooks == {CHECK_TAG}
    assert containers(after.get(*CHECK_TAG))[0]["args"] == [
        "--model",
        "loyalty-assistant",
        "--tag",
        "v2",
    ]


def test_other_values_do_not_touch_the_model_annotation() -> None:
    base = render_env("prod").get(*INFERENCE)
    bigger = render_env("prod", {"inference": {"resources": {"limits": {"memory": "32Gi"}}}})
    key = "checksum/model"
    assert (
        base["spec"]["template"]["metadata"]["annotations"][key]
        == bigger.get(*INFERENCE)["spec"]["template"]["metadata"]["annotations"][key]
    )
