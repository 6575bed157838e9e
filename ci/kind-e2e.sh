#!/usr/bin/env bash
# End-to-end on a throw-away kind cluster (needs docker, kind, kubectl and helm):
#   1. build the four service images (CPU variant), tagged with the chart's appVersion (what
#      values/dev.yaml runs), and load them into a new kind cluster
#   2. fill a model store on the host with the images themselves (tiny base model, the "tiny"
#      adapter trained on CPU, the datasets, a catalog snapshot) and hand it to the cluster as
#      the PVC values/dev.yaml names (myretail-model-store)
#   3. helm install with values/dev.yaml, wait, helm test; on failure collect logs in
#      artifacts/kind-e2e/
# Environment: CLUSTER (default myretail-e2e), KEEP_CLUSTER=1 keeps it afterwards,
# SKIP_BUILD=1 reuses images already built. kindnet may not enforce NetworkPolicies; the
# chart's policies are checked statically by tests/chart.
set -euo pipefail
cd "$(dirname "$0")/.."

CLUSTER="${CLUSTER:-myretail-e2e}"
NAMESPACE=myretail
RELEASE=myretail
VERSION="$(awk '/^appVersion:/ {gsub(/"/, "", $2); print $2}' charts/myretail/Chart.yaml)"
WORK="$(mktemp -d)"
STORE="$WORK/store"
ARTIFACTS="artifacts/kind-e2e"

collect_logs() {
  mkdir -p "$ARTIFACTS"
  helm status "$RELEASE" -n "$NAMESPACE" > "$ARTIFACTS/helm-status.txt" 2>&1 || true
  kubectl -n "$NAMESPACE" get all,pvc,jobs,events -o wide > "$ARTIFACTS/resources.txt" 2>&1 || true
  kubectl -n "$NAMESPACE" describe pods > "$ARTIFACTS/pods-describe.txt" 2>&1 || true
  for pod in $(kubectl -n "$NAMESPACE" get pods -o name 2>/dev/null); do
    kubectl -n "$NAMESPACE" logs "$pod" --all-containers --prefix > "$ARTIFACTS/${pod#pod/}.log" 2>&1 || true
    kubectl -n "$NAMESPACE" logs "$pod" --all-containers --prefix --previous \
      >> "$ARTIFACTS/${pod#pod/}.log" 2>/dev/null || true
  done
  echo "logs in $ARTIFACTS/" >&2
}

finish() {
  local rc=$?
  [[ $rc -ne 0 ]] && collect_logs
  [[ "${KEEP_CLUSTER:-0}" == 1 ]] || kind delete cluster --name "$CLUSTER" >/dev/null 2>&1 || true
  rm -rf "$WORK"
  exit "$rc"
}
trap finish EXIT

for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "kind-e2e needs $tool on PATH" >&2; exit 2; }
done

echo "== images myretail/*:$VERSION"
# services/Dockerfile (one target per image), context = the repository root; VARIANT=cpu builds finetune and
# inference on plain Ubuntu with CPU torch (no CUDA layers: kind has no GPU).
IMAGES=(finetune inference rag-api chatbot-ui)
if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
  VARIANT=cpu IMAGE_TAG="$VERSION" ci/build-images.sh finetune inference rag_api chatbot_ui
fi

echo "== model store (tiny model, datasets, catalog snapshot) in $STORE"
mkdir -p "$STORE/datasets" "$STORE/catalog"
cp data/loyalty_qa_train.jsonl data/loyalty_qa_val.jsonl "$STORE/datasets/"
as_me=(--rm --user "$(id -u):$(id -g)" -e HOME=/tmp -e HF_HOME=/tmp/hf -e MODEL_STORE_URI=file:///store
  -v "$PWD:/repo:ro" -v "$STORE:/store")
docker run "${as_me[@]}" "myretail/finetune:$VERSION" \
  make-tiny-base --out /store/base/tiny-llama --catalog /repo/data/catalog.csv \
  --policy /repo/docs/myelite-program.md --qa /repo/data/loyalty_qa_train.jsonl \
  --qa /repo/data/loyalty_qa_val.jsonl
docker run "${as_me[@]}" "myretail/finetune:$VERSION" train \
  --base-model /store/base/tiny-llama --profile cpu --model-name loyalty-assistant --model-tag tiny \
  --train-dataset-file /store/datasets/loyalty_qa_train.jsonl \
  --eval-dataset-file /store/datasets/loyalty_qa_val.jsonl --checkpoint-dir /tmp/checkpoints
docker run "${as_me[@]}" -e QDRANT_PATH=/tmp/qdrant --entrypoint sh "myretail/rag-api:$VERSION" -c \
  'myretail-catalog load /repo/data/catalog.csv && myretail-catalog export --to file:///store/catalog/catalog.snapshot'
chmod -R a+rX "$STORE"

echo "== kind cluster $CLUSTER"
cat > "$WORK/kind.yaml" <<KIND
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
    extraMounts:
      - hostPath: $STORE
        containerPath: /var/local/myretail-store
KIND
kind create cluster --name "$CLUSTER" --config "$WORK/kind.yaml" --wait 120s
for image in "${IMAGES[@]}"; do
  kind load docker-image "myretail/$image:$VERSION" --name "$CLUSTER"
done

kubectl create namespace "$NAMESPACE"
kubectl apply -f - <<PVC
apiVersion: v1
kind: PersistentVolume
metadata:
  name: myretail-model-store
spec:
  capacity: {storage: 5Gi}
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  storageClassName: ""
  hostPath: {path: /var/local/myretail-store, type: Directory}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: myretail-model-store
  namespace: $NAMESPACE
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: myretail-model-store
  resources: {requests: {storage: 5Gi}}
PVC

echo "== helm install -f values/dev.yaml"
# No --wait: the RAG API is ready only once the catalog is in Qdrant, and the post-install
# restore hook runs after the wait. Hooks are always waited for (the restore Job waits for
# Qdrant itself); then every workload must become ready.
helm install "$RELEASE" charts/myretail -n "$NAMESPACE" -f values/dev.yaml --timeout 20m
kubectl -n "$NAMESPACE" wait --for=condition=Available deployment --all --timeout=15m
kubectl -n "$NAMESPACE" rollout status statefulset --timeout=10m
kubectl -n "$NAMESPACE" get pods -o wide

echo "== helm test"
helm test "$RELEASE" -n "$NAMESPACE" --logs --timeout 10m
echo "kind e2e passed"
