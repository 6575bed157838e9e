"""Every image from one place: global.imageRegistry and global.image.tag reach each component,
every hook Job, the inference pods' init container and the helm test pods (what Terraform
sets, with immutable ECR tags, must not leave one pod on another tag); the public images keep
their pinned tags. And the model store's region reaches every pod that talks to S3."""

from __future__ import annotations

import pytest
from chart_render import ENVS, Rendered, containers, deep_merge, env_of, render_env

REGISTRY = "registry.example"
# The ECR repositories infra-terraform creates (one per service image).
PROJECT_REPOSITORIES = {
    "myretail/finetune",
    "myretail/inference",
    "myretail/rag-api",
    "myretail/chatbot-ui",
}
PUBLIC = ("docker.io/qdrant/qdrant:v", "docker.io/library/redis:", "docker.io/vllm/vllm-openai:v")
# Everything switched on, so every kind of pod is in the render.
ALL_PODS = {
    "global": {"imageRegistry": REGISTRY, "image": {"tag": "v7"}},
    "finetune": {"enabled": True, "model": {"tag": "v2"}},
    "redis": {"enabled": True},
}
# The values keys of every project image (Terraform sets their repositories when its
# repository names have another prefix).
IMAGE_KEYS = ("finetune", "inference", "ragApi", "chatbotUi", "catalogRestore", "tests")


def _images(rendered: Rendered) -> dict[str, str]:
    """ "Kind/name container" -> image, for every container (init ones too) of every pod."""
    return {
        f"{o['kind']}/{o['metadata']['name']} {c['name']}": c["image"]
        for o in rendered.objects
        for c in containers(o)
    }


def _project_images(rendered: Rendered) -> dict[str, str]:
    return {k: v for k, v in _images(rendered).items() if not v.startswith(PUBLIC)}


@pytest.mark.parametrize("env", ENVS)
def test_every_project_image_takes_the_registry_and_the_one_tag(env: str) -> None:
    images = _project_images(render_env(env, ALL_PODS))
    for where in (
        "Job/myretail-preflight preflight",
        "Job/myretail-inference-check-tag check-tag",
        "Job/myretail-catalog-restore wait-for-qdrant",
        "Job/myretail-catalog-restore restore",
        "Job/myretail-finetune-v2 finetune",
        "Deployment/myretail-inference wait-for-model",
        "Pod/myretail-test-qdrant test",
        "Deployment/myretail-chatbot-ui chatbot-ui",
    ):
        assert where in images, f"{where} is not in the render"
    for where, image in images.items():
        registry, rest = image.split("/", 1)
        repository, tag = rest.rsplit(":", 1)
        assert (registry, tag) == (REGISTRY, "v7"), f"{where}: {image}"
        assert repository in PROJECT_REPOSITORIES, f"{where}: {image}"


def test_public_images_keep_their_pinned_tags() -> None:
    images = _images(render_env("prod", ALL_PODS))
    public = sorted({v for v in images.values() if v.startswith(PUBLIC)})
    assert len(public) == 3, public  # qdrant, redis, vLLM (prod's inference engine)
    assert not any(image.endswith(":v7") for image in public)


def test_a_component_tag_wins_over_the_global_one() -> None:
    overrides = deep_merge(ALL_PODS, {"inference": {"image": {"tag": "v8"}}})
    images = _project_images(render_env("prod", overrides))
    inference_image = {w for w, i in images.items() if "/myretail/inference:" in i}
    assert inference_image == {
        "Deployment/myretail-inference inference",
        "Deployment/myretail-inference wait-for-model",
        "Deployment/myretail-inference fetch-adapter",
        "Job/myretail-inference-check-tag check-tag",
    }
    for where, image in images.items():
        expected = "v8" if where in inference_image else "v7"
        assert image.endswith(f":{expected}"), f"{where}: {image}"


def test_every_repository_can_be_named() -> None:
    repositories = {key: {"image": {"repository": f"team/{key}"}} for key in IMAGE_KEYS}
    images = _project_images(render_env("prod", deep_merge(ALL_PODS, repositories)))
    assert images
    for where, image in images.items():
        assert image.startswith(f"{REGISTRY}/team/") and image.endswith(":v7"), f"{where}: {image}"


def test_region_reaches_every_pod_that_talks_to_s3() -> None:
    region = {"global": {"modelStore": {"region": "eu-central-1"}}}
    rendered = render_env("prod", deep_merge(ALL_PODS, region))
    store_users = {
        f"{o['metadata']['name']} {c['name']}": env_of(c)
        for o in rendered.objects
        for c in containers(o)
        if "MODEL_STORE_URI" in env_of(c)
    }
    assert set(store_users) == {
        "myretail-inference wait-for-model",
        "myretail-inference fetch-adapter",
        "myretail-inference inference",  # prod's vLLM gateway: the tag's tokenizer
        "myretail-inference-check-tag check-tag",
        "myretail-catalog-restore restore",
        "myretail-finetune-v2 finetune",
    }
    for where, env in store_users.items():
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-central-1", where
