#!/usr/bin/env bash
# Build, and with PUSH=true push, the MyRetail service images: one target each of
# services/Dockerfile (where every version the images use is pinned), built with the repository
# root as context (see .dockerignore).
#
#   REGISTRY=123456789012.dkr.ecr.us-west-2.amazonaws.com IMAGE_TAG=v1.2.0 PUSH=true \
#     ci/build-images.sh                 # all four images
#   ci/build-images.sh inference         # one image, local only (tag from git describe)
#   DRY_RUN=true ci/build-images.sh      # print the docker commands without running them
#   VARIANT=cpu ci/build-images.sh       # CPU-only finetune/inference images (kind, no GPU)
#
# Environment:
#   REGISTRY      registry host (ECR: <account>.dkr.ecr.<region>.amazonaws.com); empty: local names
#   IMAGE_PREFIX  repository prefix, default "myretail" (myretail/finetune, myretail/rag-api, ...)
#   IMAGE_TAG     image tag, default `git describe --tags --always`; ECR tags are immutable
#   PUSH          "true" pushes (docker buildx --push), otherwise the image is loaded locally
#   PLATFORM      target platform, default linux/amd64 (the EKS node groups are x86_64)
#   VARIANT       "cuda" (default) or "cpu": finetune and inference on plain Ubuntu with CPU torch
#                 (the Dockerfile's ACCELERATOR build argument)
#   DRY_RUN       "true" prints the commands instead of running them
set -euo pipefail
cd "$(dirname "$0")/.."

REGISTRY="${REGISTRY:-}"
IMAGE_PREFIX="${IMAGE_PREFIX:-myretail}"
IMAGE_TAG="${IMAGE_TAG:-$(git describe --tags --always 2>/dev/null || echo dev)}"
PUSH="${PUSH:-false}"
PLATFORM="${PLATFORM:-linux/amd64}"
DRY_RUN="${DRY_RUN:-false}"
VARIANT="${VARIANT:-cuda}"

DOCKERFILE=services/Dockerfile
ALL_SERVICES=(finetune inference rag_api chatbot_ui)

# services/<dir> -> image (and ECR repository) name, which is also its services/Dockerfile target
image_name() {
  case "$1" in
    finetune) echo finetune ;;
    inference) echo inference ;;
    rag_api) echo rag-api ;;
    chatbot_ui) echo chatbot-ui ;;
    *) echo "unknown service '$1' (expected one of: ${ALL_SERVICES[*]})" >&2; return 1 ;;
  esac
}

if [[ "$IMAGE_TAG" == "latest" || -z "$IMAGE_TAG" ]]; then
  echo "IMAGE_TAG must be a release tag (ECR tags are immutable), not '${IMAGE_TAG}'" >&2
  exit 2
fi
if [[ "$VARIANT" != "cuda" && "$VARIANT" != "cpu" ]]; then
  echo "VARIANT must be cuda or cpu, not '${VARIANT}'" >&2
  exit 2
fi
if [[ "$PUSH" == "true" && -z "$REGISTRY" ]]; then
  echo "PUSH=true needs REGISTRY (terraform output ecr_registry)" >&2
  exit 2
fi

run() {
  if [[ "$DRY_RUN" == "true" ]]; then
    printf '%q ' "$@"
    printf '\n'
  else
    "$@"
  fi
}

services=("$@")
if [[ ${#services[@]} -eq 0 ]]; then
  services=("${ALL_SERVICES[@]}")
fi

revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
source_url=""
if [[ -n "${GITHUB_REPOSITORY:-}" ]]; then
  source_url="${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY}"
fi

for service in "${services[@]}"; do
  name="$(image_name "$service")"
  image="${IMAGE_PREFIX}/${name}:${IMAGE_TAG}"
  [[ -n "$REGISTRY" ]] && image="${REGISTRY}/${image}"

  args=(docker buildx build
    --file "$DOCKERFILE"
    --target "$name"
    --platform "$PLATFORM"
    --tag "$image"
    --label "org.opencontainers.image.version=${IMAGE_TAG}"
    --label "org.opencontainers.image.revision=${revision}")
  [[ -n "$source_url" ]] && args+=(--label "org.opencontainers.image.source=${source_url}")
  if [[ "$VARIANT" == "cpu" && ( "$service" == "finetune" || "$service" == "inference" ) ]]; then
    args+=(--build-arg "ACCELERATOR=cpu")
  fi
  if [[ "$PUSH" == "true" ]]; then
    args+=(--push)
  else
    args+=(--load)
  fi
  args+=(.)

  echo "==> ${service}: ${image}" >&2
  run "${args[@]}"
done
