"""Component settings users turn: images, IRSA, the UI's exposure, autoscaling, the
fine-tune Job, an external Qdrant, chat history, and the combinations the chart refuses."""

from __future__ import annotations

import helm_python as helm
import pytest
from chart_render import (
    VALUES_DIR,
    annotations,
    cached_env_render,
    containers,
    env_of,
    install_values,
    load_env_values,
    render,
    render_env,
)

ECR = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
DIGEST = "sha256:" + "a" * 64


def _image(rendered, kind: str, name: str) -> str:
    return containers(rendered.get(kind, name), init=False)[0]["image"]


def test_prod_images_come_from_ecr_and_official_images_from_docker_hub() -> None:
    prod = cached_env_render("prod")
    assert _image(prod, "Deployment", "myretail-inference") == f"{ECR}/myretail/inference:0.1.0"
    assert _image(prod, "Deployment", "myretail-rag-api") == f"{ECR}/myretail/rag-api:0.1.0"
    assert _image(prod, "Deployment", "myretail-chatbot-ui") == f"{ECR}/myretail/chatbot-ui:0.1.0"
    assert _image(prod, "StatefulSet", "myretail-qdrant").startswith("docker.io/qdrant/qdrant:v")
    assert _image(prod, "StatefulSet", "myretail-redis").startswith("docker.io/library/redis:")


def test_image_digest_tag_and_pull_secrets() -> None:
    rendered = render_env(
        "prod",
        {
            "global": {"imagePullSecrets": ["regcred"]},
            "inference": {"image": {"digest": DIGEST}},
            "ragApi": {"image": {"tag": "v1.2.3", "registry": "registry.example"}},
        },
    )
    assert _image(rendered, "Deployment", "myretail-inference") == (
        f"{ECR}/myretail/inference@{DIGEST}"
    )
    assert _image(rendered, "Deployment", "myretail-rag-api") == (
        "registry.example/myretail/rag-api:v1.2.3"
    )
    for kind, name in [("Deployment", "myretail-inference"), ("StatefulSet", "myretail-qdrant")]:
        spec = rendered.get(kind, name)["spec"]["template"]["spec"]
        assert spec["imagePullSecrets"] == [{"name": "regcred"}]


def test_one_service_account_per_component_with_irsa_in_prod() -> None:
    prod = cached_env_render("prod")
    accounts = {
        o["metadata"]["name"]: annotations(o)
        for o in prod.of_kind("ServiceAccount")
        if "helm.sh/hook" not in annotations(o)
    }
    assert set(accounts) == {
        "myretail-inference",
        "myretail-rag-api",
        "myretail-qdrant",
        "myretail-catalog-restore",
        "myretail-chatbot-ui",
        "myretail-redis",
    }
    role = "eks.amazonaws.com/role-arn"
    assert accounts["myretail-inference"][role].endswith(":role/myretail-inference")
    assert accounts["myretail-catalog-restore"][role].endswith(":role/myretail-catalog-restore")
    for deployment in prod.of_kind("Deployment"):
        spec = deployment["spec"]["template"]["spec"]
        assert spec["serviceAccountName"] == deployment["metadata"]["name"]


def test_terraform_settings_are_accepted() -> None:
    """The keys infra-terraform/myretail.tf sets on the release (helm_release set blocks):
    registry and one image tag, repositories (non-default name prefix), the model store and
    its region, the IRSA roles, the UI's source ranges."""
    registry = "999999999999.dkr.ecr.eu-west-1.amazonaws.com"
    values = install_values("prod")
    values["global"]["imageRegistry"] = registry
    values["global"]["image"] = {"tag": "v9.9.9"}
    values["global"]["modelStore"].update(
        uri="s3://tf-bucket/models", bucket="tf-bucket", region="eu-west-1"
    )
    for key in ("finetune", "inference", "ragApi", "chatbotUi", "catalogRestore", "tests"):
        values.setdefault(key, {})["image"] = {"repository": f"tf/{key.lower()}"}
    for key in ("finetune", "inference", "catalogRestore"):
        values[key]["serviceAccount"] = {
            "name": f"tf-{key.lower()}",
            "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::1:role/{key}"},
        }
    values["chatbotUi"]["service"]["loadBalancerSourceRanges"] = ["198.18.0.0/15"]
    values["finetune"].update(enabled=True, model={"tag": "v2"})
    rendered = render(values)
    job = rendered.get("Job", "myretail-catalog-restore")
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "tf-catalogrestore"
    restore = containers(job, init=False)[0]
    assert restore["args"] == ["--from", "s3://tf-bucket/catalog/latest", "--if-missing", "skip"]
    assert (
        restore["image"] == "999999999999.dkr.ecr.eu-west-1.amazonaws.com/tf/catalogrestore:v9.9.9"
    )
    server = containers(rendered.get("Deployment", "myretail-inference"), init=False)[0]
    assert server["image"] == f"{registry}/tf/inference:v9.9.9"
    # On vLLM (prod) the adapter fetch reads the store, not the gateway.
    store_reader = next(
        c
        for c in containers(rendered.get("Deployment", "myretail-inference"))
        if c["name"] == "fetch-adapter"
    )
    assert store_reader["image"] == server["image"]
    assert env_of(store_reader)["MODEL_STORE_URI"] == "s3://tf-bucket/models"
    assert env_of(store_reader)["MODEL_ASSETS_BUCKET"] == "tf-bucket"
    assert (
        env_of(store_reader)["AWS_REGION"]
        == env_of(store_reader)["AWS_DEFAULT_REGION"]
        == "eu-west-1"
    )
    test_pod = rendered.get("Pod", "myretail-test-rag-api")["spec"]["containers"][0]
    assert test_pod["image"] == f"{registry}/tf/tests:v9.9.9"
    service = rendered.get("Service", "myretail-chatbot-ui")
    assert service["spec"]["loadBalancerSourceRanges"] == ["198.18.0.0/15"]


def test_ui_is_a_cluster_ip_by_default_and_an_nlb_in_prod() -> None:
    dev = cached_env_render("dev").get("Service", "myretail-chatbot-ui")
    assert dev["spec"]["type"] == "ClusterIP"
    assert "loadBalancerSourceRanges" not in dev["spec"]
    prod = cached_env_render("prod").get("Service", "myretail-chatbot-ui")
    assert prod["spec"]["type"] == "LoadBalancer"
    assert prod["spec"]["loadBalancerSourceRanges"]
    lb = annotations(prod)
    assert lb["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
    assert lb["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
    assert lb["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
    assert "kubectl -n myretail get service myretail-chatbot-ui" in cached_env_render("prod").notes


@pytest.mark.parametrize(
    "ranges",
    [[], ["203.0.113.0/24", "198.51.100.0/24"], ["192.0.2.0/24", "203.0.113.7/32"]],
    ids=["none", "documentation ranges", "documentation ranges and hosts"],
)
def test_prod_refuses_a_load_balancer_open_to_no_real_range(ranges: list[str]) -> None:
    values = load_env_values("prod")  # the file alone, without the operator's ranges
    values["chatbotUi"]["service"]["loadBalancerSourceRanges"] = ranges
    with pytest.raises(
        helm.HelmRenderError, match=r"set chatbotUi\.service\.loadBalancerSourceRanges"
    ):
        render(values)


def test_prod_load_balancer_with_a_real_range_and_other_exposures_render() -> None:
    ranges = ["203.0.113.0/24", "198.18.0.0/15"]
    rendered = render_env("prod", {"chatbotUi": {"service": {"loadBalancerSourceRanges": ranges}}})
    service = rendered.get("Service", "myretail-chatbot-ui")
    assert service["spec"]["loadBalancerSourceRanges"] == ranges
    cluster_ip = load_env_values("prod")
    cluster_ip["chatbotUi"]["service"]["type"] = "ClusterIP"
    assert render(cluster_ip).get("Service", "myretail-chatbot-ui")["spec"]["type"] == "ClusterIP"
    # staging's internal NLB without ranges is not prod's business
    staging = cached_env_render("staging").get("Service", "myretail-chatbot-ui")
    assert staging["spec"]["type"] == "LoadBalancer"
    assert "loadBalancerSourceRanges" not in staging["spec"]


def test_prod_values_file_says_the_ranges_are_required() -> None:
    text = (VALUES_DIR / "prod.yaml").read_text()
    assert "chatbotUi.service.loadBalancerSourceRanges" in text
    assert "The install fails while" in text
    assert "loadBalancerSourceRanges" not in load_env_values("prod")["chatbotUi"]["service"]


def test_optional_ingress() -> None:
    assert cached_env_render("prod").of_kind("Ingress") == []
    rendered = render_env(
        "dev",
        {
            "chatbotUi": {
                "ingress": {
                    "enabled": True,
                    "className": "nginx",
                    "hosts": [{"host": "chat.local", "paths": [{"path": "/"}]}],
                }
            }
        },
    )
    (ingress,) = rendered.of_kind("Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": "myretail-chatbot-ui", "port": {"name": "http"}}
    assert "http://chat.local/" in rendered.notes


def test_autoscaling_and_disruption_budgets_in_prod_only() -> None:
    prod, dev = cached_env_render("prod"), cached_env_render("dev")
    scaled = {o["spec"]["scaleTargetRef"]["name"] for o in prod.of_kind("HorizontalPodAutoscaler")}
    assert scaled == {"myretail-inference", "myretail-rag-api", "myretail-chatbot-ui"}
    budgets = {o["metadata"]["name"] for o in prod.of_kind("PodDisruptionBudget")}
    assert budgets == scaled
    for name in scaled:
        assert "replicas" not in prod.get("Deployment", name)["spec"], "the HPA owns replicas"
    assert dev.of_kind("HorizontalPodAutoscaler") == dev.of_kind("PodDisruptionBudget") == []


def test_finetune_is_off_by_default_and_a_job_per_run() -> None:
    jobs = {j["metadata"]["name"] for j in cached_env_render("prod").of_kind("Job")}
    assert jobs == {
        "myretail-catalog-restore",
        "myretail-inference-check-tag",
        "myretail-preflight",
    }
    rendered = render_env("prod", {"finetune": {"enabled": True, "model": {"tag": "V3_rc1"}}})
    job = rendered.get("Job", "myretail-finetune-v3-rc1")
    spec = job["spec"]
    assert spec["backoffLimit"] >= 3, "spot nodes get reclaimed: retry"
    assert spec["activeDeadlineSeconds"] > 0
    ignore = spec["podFailurePolicy"]["rules"][0]
    assert ignore == {
        "action": "Ignore",
        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
    }
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    env = env_of(container)
    assert env["MODEL_TAG"] == "V3_rc1"
    assert env["HUGGING_FACE_HUB_TOKEN"]["secretKeyRef"]["name"] == "myretail-huggingface"
    assert env["TRAIN_DATASET_FILE"] == "s3://myretail-model-assets/datasets/loyalty_qa_train.jsonl"
    # Prod checkpoints go to the store (see below); on a volume they are per tag on the PVC.
    on_volume = render_env(
        "prod",
        {
            "finetune": {
                "enabled": True,
                "model": {"tag": "V3_rc1"},
                "checkpoints": {"location": "volume"},
            }
        },
    )
    volume_pod = on_volume.get("Job", "myretail-finetune-v3-rc1")["spec"]["template"]["spec"]
    assert env_of(volume_pod["containers"][0])["CHECKPOINT_DIR"] == (
        "/checkpoints/loyalty-assistant/V3_rc1"
    )
    volumes = {v["name"]: v for v in volume_pod["volumes"]}
    assert (
        volumes["checkpoints"]["persistentVolumeClaim"]["claimName"]
        == "myretail-finetune-checkpoints"
    )
    assert on_volume.find("PersistentVolumeClaim", "myretail-finetune-checkpoints") is not None
    assert pod["serviceAccountName"] == "myretail-finetune"


def test_finetune_needs_a_tag() -> None:
    with pytest.raises(helm.HelmRenderError, match=r"finetune\.model\.tag is required"):
        render_env("prod", {"finetune": {"enabled": True}})


def test_external_qdrant() -> None:
    rendered = render_env(
        "prod",
        {
            "qdrant": {"enabled": False},
            "global": {"qdrant": {"url": "https://qdrant.example:6333"}},
        },
    )
    assert rendered.find("StatefulSet", "myretail-qdrant") is None
    assert rendered.find("Pod", "myretail-test-qdrant") is None
    rag = env_of(containers(rendered.get("Deployment", "myretail-rag-api"))[0])
    assert rag["QDRANT_ENDPOINT"] == "https://qdrant.example:6333"


def test_history_store() -> None:
    prod_env = env_of(
        containers(cached_env_render("prod").get("Deployment", "myretail-rag-api"))[0]
    )
    assert prod_env["HISTORY_URL"] == "redis://:$(REDIS_PASSWORD)@myretail-redis:6379/0"
    assert prod_env["REDIS_PASSWORD"]["secretKeyRef"]["name"] == "myretail-redis"
    dev = cached_env_render("dev")
    dev_env = env_of(containers(dev.get("Deployment", "myretail-rag-api"))[0])
    assert dev_env["HISTORY_URL"] == "sqlite:////data/history.db"
    assert dev.find("PersistentVolumeClaim", "myretail-rag-api-data") is not None
    assert dev.get("Deployment", "myretail-rag-api")["spec"]["strategy"]["type"] == "Recreate"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"qdrant": {"enabled": False}}, "needs global.qdrant.url"),
        ({"ragApi": {"history": {"type": "redis"}}}, "needs redis.enabled=true"),
        ({"ragApi": {"replicaCount": 2}}, "SQLite chat history"),
        ({"inference": {"gpu": {"enabled": True}, "model": {"quantization": "nf4"}}}, None),
        ({"inference": {"model": {"quantization": "nf4"}}}, "nf4 needs CUDA"),
        ({"inference": {"enabled": False}}, "chat.provider=inference needs inference.enabled"),
    ],
)
def test_refused_combinations_say_what_to_change(overrides: dict, message: str | None) -> None:
    if message is None:
        render_env("dev", overrides)
        return
    with pytest.raises(helm.HelmRenderError, match=message):
        render_env("dev", overrides)


def test_ui_points_at_the_in_cluster_services() -> None:
    env = env_of(containers(cached_env_render("prod").get("Deployment", "myretail-chatbot-ui"))[0])
    assert env["RAG_API_ENDPOINT"] == "http://myretail-rag-api:8080"
    assert env["INFERENCE_API_ENDPOINT"] == "http://myretail-inference:8000"
    rag = env_of(containers(cached_env_render("staging").get("Deployment", "myretail-rag-api"))[0])
    assert rag["CHAT_PROVIDER"] == "openai"
    assert rag["OPENAI_BASE_URL"] == "http://myretail-inference:8000/v1"


def test_prod_checkpoints_go_to_the_store_so_a_retry_in_another_zone_resumes() -> None:
    """A spot retry may land in another zone, where the first pod's PVC cannot follow."""
    prod = cached_env_render("prod")
    assert not [
        o for o in prod.of_kind("PersistentVolumeClaim") if "checkpoints" in o["metadata"]["name"]
    ]
    job = render_env("prod", {"finetune": {"enabled": True, "model": {"tag": "v2"}}}).get(
        "Job", "myretail-finetune-v2"
    )
    (container,) = containers(job)
    assert "CHECKPOINT_DIR" not in env_of(container)  # the Job's default: <store>/.../.checkpoints
    assert env_of(container)["MODEL_STORE_URI"].startswith("s3://")
    assert "checkpoints" not in {m["name"] for m in container["volumeMounts"]}
    dev = render_env("dev", {"finetune": {"enabled": True, "model": {"tag": "t2"}}})
    (dev_container,) = containers(dev.get("Job", "myretail-finetune-t2"))
    assert env_of(dev_container)["CHECKPOINT_DIR"] == "/checkpoints/loyalty-assistant/t2"
