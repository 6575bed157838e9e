"""Day 0 from the chart's side: a first install that fine-tunes the tag it serves passes the
model-tag check and its inference pods wait for the tag; no pod's readiness depends on a
post-install hook (so `helm install --wait` completes); the default catalog snapshot is the
portable format the restore reads, and a missing one is skipped; `helm test` still fails on an
empty catalog; NOTES tells all of this with commands that name what the release renders."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from chart_render import (
    ENVS,
    NAMESPACE,
    Rendered,
    annotations,
    cached_env_render,
    containers,
    env_of,
    pod_spec,
    render_env,
)
from qdrant_client import QdrantClient, models
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from myretail_common.model_store import ModelStore
from myretail_common.storage import Storage
from myretail_common.store_cli import main as store_main
from myretail_testkit.qdrant_gateway import QdrantGateway
from myretail_testkit.servers import LiveServer

CHECK_TAG = ("Job", "myretail-inference-check-tag")
INFERENCE = ("Deployment", "myretail-inference")
DAY0 = {"finetune": {"enabled": True, "model": {"tag": "v1"}}}  # inference serves v1


def _install_hooks(rendered: Rendered, event: str) -> set[tuple[str, str]]:
    return {
        (o["kind"], o["metadata"]["name"])
        for o in rendered.hooks()
        if event in annotations(o)["helm.sh/hook"].split(",")
    }


@pytest.mark.parametrize("is_upgrade", [False, True])
def test_the_check_passes_when_the_release_publishes_the_tag_it_serves(is_upgrade: bool) -> None:
    rendered = render_env("prod", DAY0, is_upgrade=is_upgrade)
    assert rendered.find(*CHECK_TAG) is None
    assert ("ServiceAccount", "myretail-inference") not in _install_hooks(rendered, "pre-install")
    job = rendered.get("Job", "myretail-finetune-v1")
    assert "helm.sh/hook" not in annotations(job), "a release Job: it runs while pods wait"
    assert env_of(containers(job)[0])["MODEL_TAG"] == "v1"
    assert "The fine-tune Job of this release publishes it" in rendered.notes


@pytest.mark.parametrize(
    "overrides",
    [
        {},
        {"finetune": {"enabled": True, "model": {"tag": "v2"}}},
        {"finetune": {"enabled": True, "model": {"tag": "v1", "name": "other-model"}}},
    ],
    ids=["no fine-tune", "fine-tune of another tag", "fine-tune of another model"],
)
@pytest.mark.parametrize("is_upgrade", [False, True])
def test_the_check_still_refuses_a_tag_nobody_publishes(overrides: dict, is_upgrade: bool) -> None:
    rendered = render_env("prod", overrides, is_upgrade=is_upgrade)
    (check,) = containers(rendered.get(*CHECK_TAG))
    assert check["args"] == ["--model", "loyalty-assistant", "--tag", "v1"]


def test_inference_pods_wait_for_their_tag_with_the_store_settings(tmp_path: Path) -> None:
    deployment = render_env("prod", DAY0).get(*INFERENCE)
    spec = pod_spec(deployment)
    # prod serves on vLLM: the wait comes first, then the fetch of the adapter it waited for.
    wait, fetch = spec["initContainers"]
    server = spec["containers"][0]
    assert server["name"] == "inference"
    assert fetch["name"] == "fetch-adapter" and fetch["args"][:2] == ["loyalty-assistant", "v1"]
    assert wait["name"] == "wait-for-model"
    assert wait["image"] == server["image"]
    assert wait["command"] == ["myretail-store", "wait-tag"]
    assert wait["args"] == [
        "--model",
        "loyalty-assistant",
        "--tag",
        "v1",
        "--timeout",
        "7200",
    ]
    store_keys = {"MODEL_STORE_URI", "MODEL_ASSETS_BUCKET", "AWS_REGION", "AWS_DEFAULT_REGION"}
    assert {k: v for k, v in env_of(wait).items() if k in store_keys} == {
        k: v for k, v in env_of(fetch).items() if k in store_keys
    }
    assert env_of(wait)["AWS_REGION"] == "us-west-2"
    assert spec["serviceAccountName"] == "myretail-inference", "the IRSA role reads the store"
    longer = render_env("prod", {"inference": {"model": {"waitTimeoutSeconds": 14400}}})
    assert pod_spec(longer.get(*INFERENCE))["initContainers"][0]["args"][-1] == "14400"
    # The rendered command line is one the CLI runs: a published tag passes at once.
    uri = f"file://{tmp_path / 'store'}"
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_model.safetensors").write_text("w")
    ModelStore(Storage(uri)).publish(folder, "loyalty-assistant", "v1", {})
    assert store_main(["--store", uri, *wait["command"][1:], *wait["args"]]) == 0


@pytest.mark.parametrize("env", ENVS)
def test_no_pod_waits_for_a_post_install_hook(env: str) -> None:
    """`--wait` runs before post-install hooks: a release pod that needed one would deadlock."""
    rendered = render_env(env, DAY0 if env != "dev" else {})
    post = _install_hooks(rendered, "post-install")
    assert post == {("Job", "myretail-catalog-restore")}, "only the restore runs after install"
    hook_made = {name for _, name in _install_hooks(rendered, "pre-install") | post}
    served_tag_sources = {
        env_of(containers(o)[0]).get("MODEL_TAG")
        for o in rendered.of_kind("Job")
        if "helm.sh/hook" not in annotations(o)
    }
    checked = rendered.find(*CHECK_TAG)
    for obj in rendered.objects:
        spec = pod_spec(obj)
        if spec is None or "helm.sh/hook" in annotations(obj):
            continue
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        for volume in spec.get("volumes", []):
            for source in ("persistentVolumeClaim", "configMap", "secret"):
                ref = volume.get(source) or {}
                name = ref.get("claimName") or ref.get("name") or ref.get("secretName")
                assert name not in hook_made, f"{where} mounts {name}, made by a hook"
        for init in spec.get("initContainers", []):
            # wait-tag waits for a tag; fetch (engine vllm) copies one in: NAME TAG DIR.
            command = init["command"]
            assert command in (["myretail-store", "wait-tag"], ["myretail-store", "fetch"]), (
                f"{where}: {init['name']}"
            )
            args = init["args"]
            tag = args[args.index("--tag") + 1] if command[1] == "wait-tag" else args[1]
            assert checked is not None or tag in served_tag_sources, (
                f"{where} waits for {tag}: neither checked before install nor published by a "
                "Job of the release"
            )


@pytest.mark.parametrize("env", ["defaults", *ENVS])
def test_the_default_snapshot_is_portable_and_a_missing_one_is_skipped(env: str) -> None:
    job = cached_env_render(env).get("Job", "myretail-catalog-restore")
    (restore,) = pod_spec(job)["containers"]
    uri = restore["args"][restore["args"].index("--from") + 1]
    assert not uri.endswith(".snapshot"), "a .snapshot URI names a Qdrant-native file"
    assert uri.endswith("/catalog/latest")
    assert restore["args"][-2:] == ["--if-missing", "skip"]


def test_a_missing_snapshot_can_fail_the_release_when_asked() -> None:
    rendered = render_env("prod", {"catalogRestore": {"snapshot": {"ifMissing": "fail"}}})
    restore = pod_spec(rendered.get("Job", "myretail-catalog-restore"))["containers"][0]
    assert restore["args"][-2:] == ["--if-missing", "fail"]


def _qdrant_test_script(rendered: Rendered) -> tuple[str, dict[str, str]]:
    (container,) = rendered.get("Pod", "myretail-test-qdrant")["spec"]["containers"]
    env = {e["name"]: e.get("value", "test-key") for e in container["env"]}
    return container["command"][2], env


def _run_script(script: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_helm_test_fails_on_an_empty_catalog_and_passes_once_it_is_filled() -> None:
    """The rendered Qdrant test script against Qdrant's REST API (the testkit's gateway over
    embedded Qdrant, plus the /readyz the real server answers)."""
    script, env = _qdrant_test_script(cached_env_render("prod"))
    client = QdrantClient(location=":memory:")
    gateway = QdrantGateway(client)
    app = Starlette(
        routes=[
            Route("/readyz", lambda _: PlainTextResponse("all shards are ready")),
            Mount("/", app=gateway.app),
        ]
    )
    vectors = models.VectorParams(size=2, distance=models.Distance.COSINE)
    with LiveServer(app) as server:
        env = {**env, "BASE_URL": server.url, "TIMEOUT": "10"}
        missing = _run_script(script, env)
        assert missing.returncode == 1
        assert "FAIL GET /collections/catalog: 404" in missing.stdout
        client.create_collection("catalog", vectors_config=vectors)
        empty = _run_script(script, env)
        assert empty.returncode == 1
        assert "FAIL collection catalog has points: 0 points" in empty.stdout
        client.upsert("catalog", [models.PointStruct(id=1, vector=[1.0, 0.0], payload={})])
        filled = _run_script(script, env)
        assert filled.returncode == 0, filled.stdout + filled.stderr
        assert "all checks passed" in filled.stdout


def _notes_commands(notes: str) -> list[str]:
    return [
        line.strip() for line in notes.splitlines() if line.strip().startswith(("kubectl", "helm"))
    ]


def _named_objects(command: str) -> list[tuple[str, str]]:
    kinds = {"job": "Job", "deployment": "Deployment", "service": "Service"}
    found = [(kinds[k], n) for k, n in re.findall(r"\b(job|deployment|service)/([\w-]+)", command)]
    found += [("Service", n) for n in re.findall(r"get service ([\w-]+)", command)]
    return found


@pytest.mark.parametrize(
    ("env", "overrides"),
    [("dev", {}), ("staging", {}), ("prod", {}), ("prod", DAY0)],
    ids=["dev", "staging", "prod", "prod day 0"],
)
def test_notes_commands_name_what_the_release_renders(env: str, overrides: dict) -> None:
    rendered = render_env(env, overrides)
    commands = _notes_commands(rendered.notes)
    names = rendered.names()
    named = [obj for command in commands for obj in _named_objects(command)]
    assert named, commands
    for kind, name in named:
        assert (kind, name) in names, f"NOTES names {kind}/{name}, which the release lacks"
    for command in commands:
        assert f" -n {NAMESPACE} " in f"{command} ", command
        if command.startswith("helm upgrade"):
            assert " charts/myretail " in command and "--reset-then-reuse-values" in command


def test_notes_port_forward_uses_the_ui_service_port() -> None:
    dev = cached_env_render("dev")
    (forward,) = [c for c in _notes_commands(dev.notes) if "port-forward" in c]
    local, remote = re.search(r" (\d+):(\d+)$", forward).groups()
    service = dev.get("Service", "myretail-chatbot-ui")
    assert int(remote) == service["spec"]["ports"][0]["port"] == 80
    assert f"http://localhost:{local}/" in dev.notes


def test_notes_tell_the_preflight_the_model_wait_and_the_catalog_state() -> None:
    notes = render_env("prod", DAY0).notes
    for said in (
        "the preflight hook found the Secret keys this release",
        "myretail-openai:OPENAI_API_KEY",
        "init container wait-for-model",
        "--timeout must cover the training",
        "logs -f deployment/myretail-inference -c wait-for-model",
        "the restore hook loads the snapshot",
        "s3://myretail-model-assets/catalog/latest",
        'answers 503 "catalog is empty"',
        "logs job/myretail-catalog-restore",
        "they fail while\nthe catalog is empty",
    ):
        assert said in notes, said
