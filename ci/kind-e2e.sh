#!/usr/bin/env bash
# Day 0 on a throw-away kind cluster (needs docker, kind, kubectl and helm), in the order
# docs/aws.md gives for EKS:
#   1. build the four service images (CPU variant), tagged with the chart's appVersion (what
#      values/dev.yaml runs), and load them into a new kind cluster
#   2. a model store on the host with what a fresh bucket holds before day 0: the base model
#      (the tiny one, standing in for the hub's Llama 3) and the datasets, but NO adapter; then
#      the first catalog snapshot, made by `myretail-catalog export --from-csv`; handed to the
#      cluster as the PVC values/dev.yaml names (myretail-model-store)
#   3. the first install with --wait: its fine-tune Job trains and publishes the tag inference
#      serves while the inference pods wait for it; the RAG API is ready with an empty
#      catalog; the post-install hook restores the snapshot; then helm test. On failure the
#      logs are collected in artifacts/kind-e2e/
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

echo "== model store (base model, datasets; no adapter yet) in $STORE"
mkdir -p "$STORE/datasets" "$STORE/catalog"
cp data/loyalty_qa_train.jsonl data/loyalty_qa_val.jsonl "$STORE/datasets/"
as_me=(--rm --user "$(id -u):$(id -g)" -e HOME=/tmp -e HF_HOME=/tmp/hf -e MODEL_STORE_URI=file:///store
  -v "$PWD:/repo:ro" -v "$STORE:/store")
docker run "${as_me[@]}" "myretail/finetune:$VERSION" \
  make-tiny-base --out /store/base/tiny-llama --catalog /repo/data/catalog.csv \
  --policy /repo/docs/myelite-program.md --qa /repo/data/loyalty_qa_train.jsonl \
  --qa /repo/data/loyalty_qa_val.jsonl
echo "== the first catalog snapshot (portable folder), straight from the CSV"
docker run "${as_me[@]}" "myretail/rag-api:$VERSION" \
  myretail-catalog export --from-csv /repo/data/catalog.csv --to file:///store/catalog/latest
chmod -R a+rwX "$STORE"   # the pods (uid 10001) publish the adapter into it

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

echo "== first install (fine-tunes the tag it serves), --wait"
# --wait completes: the model-tag check passes because this release's fine-tune Job publishes
# the tag, the inference pods wait for it in their wait-for-model init container, and the RAG
# API is ready with an empty catalog; the post-install hook then restores the snapshot.
helm install "$RELEASE" charts/myretail -n "$NAMESPACE" -f values/dev.yaml \
  --set finetune.enabled=true --set finetune.model.tag=tiny --wait --timeout 30m
kubectl -n "$NAMESPACE" logs job/"$RELEASE"-finetune-tiny --tail=5
kubectl -n "$NAMESPACE" logs job/"$RELEASE"-catalog-restore --tail=5
kubectl -n "$NAMESPACE" get pods -o wide

echo "== helm test"
helm test "$RELEASE" -n "$NAMESPACE" --logs --timeout 10m
echo "kind e2e passed"
