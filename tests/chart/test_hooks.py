"""Hook kinds, weights and delete policies: the preflight and the model-tag check before
install/upgrade, the catalog restore after, and the helm test pods."""

from __future__ import annotations

from chart_render import annotations, cached_env_render, containers, env_of, render_env

HOOK, WEIGHT, POLICY = "helm.sh/hook", "helm.sh/hook-weight", "helm.sh/hook-delete-policy"

# (kind, name) -> (hook events, weight, delete policy)
PREFLIGHT_RBAC = (
    "pre-install,pre-upgrade",
    "-30",
    "before-hook-creation,hook-succeeded,hook-failed",
)
EXPECTED_INSTALL_HOOKS = {
    ("ServiceAccount", "myretail-preflight"): PREFLIGHT_RBAC,
    ("Role", "myretail-preflight"): PREFLIGHT_RBAC,
    ("RoleBinding", "myretail-preflight"): PREFLIGHT_RBAC,
    ("Job", "myretail-preflight"): (
        "pre-install,pre-upgrade",
        "-20",
        "before-hook-creation,hook-succeeded",
    ),
    ("ServiceAccount", "myretail-inference"): (
        "pre-install",
        "-10",
        "before-hook-creation,hook-succeeded,hook-failed",
    ),
    ("Job", "myretail-inference-check-tag"): (
        "pre-install,pre-upgrade",
        "-5",
        "before-hook-creation,hook-succeeded",
    ),
    # kept after it succeeds, so `kubectl logs job/...` tells what it restored (or skipped)
    ("Job", "myretail-catalog-restore"): ("post-install,post-upgrade", "5", "before-hook-creation"),
    ("Pod", "myretail-test-qdrant"): ("test", "0", "before-hook-creation"),
    ("Pod", "myretail-test-inference"): ("test", "1", "before-hook-creation"),
    ("Pod", "myretail-test-rag-api"): ("test", "2", "before-hook-creation"),
    ("Pod", "myretail-test-chatbot-ui"): ("test", "3", "before-hook-creation"),
}


def _hooks(rendered) -> dict:
    return {
        (o["kind"], o["metadata"]["name"]): (
            annotations(o)[HOOK],
            annotations(o).get(WEIGHT),
            annotations(o).get(POLICY),
        )
        for o in rendered.hooks()
    }


def test_install_hooks() -> None:
    assert _hooks(cached_env_render("prod")) == EXPECTED_INSTALL_HOOKS


def test_upgrade_hooks_use_the_release_service_account() -> None:
    upgrade = render_env("prod", is_upgrade=True)
    expected = dict(EXPECTED_INSTALL_HOOKS)
    del expected[("ServiceAccount", "myretail-inference")]
    assert _hooks(upgrade) == expected
    assert upgrade.find("ServiceAccount", "myretail-inference") is not None


def test_check_tag_hook_checks_the_requested_tag_with_the_inference_store_settings() -> None:
    prod = cached_env_render("prod")
    job = prod.get("Job", "myretail-inference-check-tag")
    deployment = prod.get("Deployment", "myretail-inference")
    (check,) = containers(job)
    server = containers(deployment, init=False)[0]
    # prod serves on vLLM: the pod reads the store in its adapter fetch (init container).
    (store_reader,) = [c for c in containers(deployment) if c["name"] == "fetch-adapter"]
    assert check["command"] == ["myretail-store", "check-tag"]
    assert check["args"] == ["--model", "loyalty-assistant", "--tag", "v1"]
    assert check["image"] == server["image"] == store_reader["image"]
    store = {"MODEL_STORE_URI", "MODEL_ASSETS_BUCKET", "AWS_REGION", "S3_ENDPOINT_URL"}
    server_env, check_env = env_of(store_reader), env_of(check)
    assert {k: v for k, v in check_env.items() if k in store} == {
        k: v for k, v in server_env.items() if k in store
    }
    assert check_env["MODEL_STORE_URI"] == "s3://myretail-model-assets/models"
    job_spec, server_spec = job["spec"]["template"]["spec"], deployment["spec"]["template"]["spec"]
    assert job_spec["serviceAccountName"] == server_spec["serviceAccountName"]
    assert job["spec"]["backoffLimit"] == 0, "a missing tag fails at once"
    assert job["spec"]["activeDeadlineSeconds"] > 0
    assert "nodeSelector" not in job_spec, "the check needs no GPU node"
    # the install-time ServiceAccount carries the same IRSA role as the release's
    hook_sa = next(o for o in prod.hooks() if o["kind"] == "ServiceAccount")
    release_sa = next(
        o
        for o in prod.of_kind("ServiceAccount")
        if o["metadata"]["name"] == "myretail-inference" and HOOK not in annotations(o)
    )
    role = "eks.amazonaws.com/role-arn"
    assert annotations(hook_sa)[role] == annotations(release_sa)[role]


def test_file_store_is_mounted_for_the_check_in_dev() -> None:
    job = cached_env_render("dev").get("Job", "myretail-inference-check-tag")
    spec = job["spec"]["template"]["spec"]
    claims = [
        v["persistentVolumeClaim"]["claimName"]
        for v in spec["volumes"]
        if "persistentVolumeClaim" in v
    ]
    assert claims == ["myretail-model-store"]
    assert env_of(containers(job)[0])["MODEL_STORE_URI"] == "file:///store"


def test_check_can_be_limited_to_upgrades() -> None:
    off = render_env("dev", {"inference": {"checkTag": {"onInstall": False}}})
    assert off.find("Job", "myretail-inference-check-tag") is None
    upgrade = render_env("dev", {"inference": {"checkTag": {"onInstall": False}}}, is_upgrade=True)
    assert upgrade.find("Job", "myretail-inference-check-tag") is not None


def test_catalog_restore_waits_for_qdrant_and_restores_the_named_snapshot() -> None:
    job = cached_env_render("prod").get("Job", "myretail-catalog-restore")
    spec = job["spec"]["template"]["spec"]
    (wait,) = spec["initContainers"]
    assert env_of(wait)["QDRANT_ENDPOINT"] == "http://myretail-qdrant:6333"
    assert "/readyz" in wait["command"][-1]
    compile(wait["command"][-1], "wait-for-qdrant", "exec")  # valid Python once rendered
    (restore,) = spec["containers"]
    assert restore["command"] == ["myretail-catalog", "restore"]
    # the default is a portable snapshot folder (no .snapshot suffix); none yet is no failure
    assert restore["args"] == [
        "--from",
        "s3://myretail-model-assets/catalog/latest",
        "--if-missing",
        "skip",
    ]
    env = env_of(restore)
    assert env["QDRANT_COLLECTION"] == "catalog"
    assert env["QDRANT_API_KEY"]["secretKeyRef"]["name"] == "myretail-qdrant"
    assert spec["restartPolicy"] == "Never"
    assert spec["serviceAccountName"] == "myretail-catalog-restore"


def test_test_pods_use_the_project_image_and_check_what_the_issue_lists() -> None:
    prod = cached_env_render("prod")
    rag_image = containers(prod.get("Deployment", "myretail-rag-api"))[0]["image"]
    scripts = {}
    for name in ("qdrant", "inference", "rag-api", "chatbot-ui"):
        pod = prod.get("Pod", f"myretail-test-{name}")
        (container,) = pod["spec"]["containers"]
        assert container["image"] == rag_image
        assert container["command"][:2] == ["python", "-c"]
        assert pod["spec"]["restartPolicy"] == "Never"
        scripts[name] = container["command"][2]
        assert 'call("/readyz")' in scripts[name]
        compile(scripts[name], name, "exec")  # the rendered script is valid Python
    assert '"/generate"' in scripts["inference"] and '"response"' in scripts["inference"]
    assert '"/generate"' in scripts["rag-api"] and "len(sources) >= 1" in scripts["rag-api"]
    assert "/collections/" in scripts["qdrant"] and "points_count" in scripts["qdrant"]
    assert 'call("/")' in scripts["chatbot-ui"]


def test_tests_can_be_switched_off() -> None:
    rendered = render_env("prod", {"tests": {"enabled": False}})
    assert not [o for o in rendered.hooks() if annotations(o)[HOOK] == "test"]
