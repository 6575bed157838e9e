#!/usr/bin/env bash
# GPU checks of the native engine and the fine-tune Job (issue 14), in about five minutes,
# on a CUDA machine with no internet whose python3 has torch but not our other packages:
#
#   1. setup         a venv over that python3's packages, our services installed editable,
#                    what the machine lacks installed from the wheels in .whl/
#   2. llama3-tests  the Llama-3-shaped engine tests (unmerged LoRA, bf16, GQA, 128k vocab,
#                    Meta's tokenizer) and the loader's GPU tests, on CUDA
#   3. qlora         a QLoRA run of the real Job on the Llama-3-shaped model (4-bit NF4,
#                    paged 8-bit AdamW, the gate in bf16), its peak GPU memory, then the
#                    adapter served in 4-bit by the engine
#   4. bench         bench/inference_bench.py (one round) on the GPU
#   5. engine-tests  fault injection, token budgets and batched sampling on CUDA (the tiny
#                    model, fp32: these tests compare answers exactly)
#
# Each step's log is $OUT/<step>.log, and $OUT/summary.txt has one line per step. The
# steps share one time budget (GPU_CHECKS_SECONDS, 340 s); a step that would start with
# less than 15 s left is skipped and says so.
#
#   ci/gpu-checks.sh                 run the checks (repository root; OUT defaults to
#                                    var/gpu-checks)
#   ci/gpu-checks.sh fetch-wheels    here, with a package index: fill .whl/ (git-ignored)
#
# What travels besides the repository (the run call's carry list): .whl (about 45 MiB),
# and the benchmark's tiny base and fine-tuned adapter, var/bench/tiny-base and
# var/bench/finetune/store (made by `.venv/bin/python bench/inference_bench.py` here, so
# the GPU machine does not spend minutes fine-tuning them again).
set -uo pipefail
cd "$(dirname "$0")/.."

# Everything the GPU image lacks, pinned as in requirements/dev.lock (CPython 3.12 wheels).
WHEELS=(
  pydantic==2.14.3 pydantic-core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5
  pydantic-settings==2.16.3 python-dotenv==1.2.4
  fastapi==0.165.0 starlette==1.10.0 uvicorn==0.54.0 opentelemetry-api==1.45.2
  python-multipart==0.0.34
  openai==3.54.0 jiter==0.19.0 httpx2==2.16.2 httpcore2==2.16.2 truststore==0.10.5
  sniffio==1.3.1 distro==1.9.0
  jsonschema==4.26.0 jsonschema-specifications==2025.9.1 referencing==0.37.0 rpds-py==2026.9.1
  datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19
  transformers==5.23.0 peft==0.21.2 llama-models==0.3.0 bitsandbytes==0.50.2
)
WHEEL_DIR=${WHEEL_DIR:-.whl}

# Wheels carry files this run never reads; dropping them keeps .whl small enough to travel.
slim_wheel() {  # slim_wheel WHEEL PYTHON-REGEX-OF-MEMBERS-TO-DROP
  python3 - "$1" "$2" <<'EOF'
import re, sys, zipfile, shutil
path, drop = sys.argv[1], re.compile(sys.argv[2])
slim = path + ".slim"
with zipfile.ZipFile(path) as source, zipfile.ZipFile(slim, "w", zipfile.ZIP_DEFLATED) as target:
    for item in source.infolist():
        if drop.search(item.filename):
            continue
        data = source.read(item.filename)
        if item.filename.endswith(".dist-info/RECORD"):
            lines = data.decode().splitlines()
            data = ("\n".join(l for l in lines if not drop.search(l.split(",")[0])) + "\n").encode()
        target.writestr(item, data)
shutil.move(slim, path)
EOF
}

fetch_wheels() {
  local pip=${PIP:-.venv/bin/pip}
  rm -rf "$WHEEL_DIR" && mkdir -p "$WHEEL_DIR"
  "$pip" download --quiet --no-deps --only-binary=:all: --python-version "${WHEEL_PYTHON:-3.12}" \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    --platform manylinux1_x86_64 -d "$WHEEL_DIR" "${WHEELS[@]}" || return 1
  # bitsandbytes: the CUDA 13 kernels only (the GPU image's torch is built for CUDA 13).
  slim_wheel "$WHEEL_DIR"/bitsandbytes-*.whl \
    'libbitsandbytes_(cuda1[0-2][0-9]|rocm|xpu|mps)|/(triton|_mps)/'
  # llama-models: only Meta's Llama 3 tokenizer (and the package's own files) is read.
  slim_wheel "$WHEEL_DIR"/llama_models-*.whl \
    '^models/|llama4/|llama3_[0-9]|resources/|\.jpe?g$|prompt_format\.md$'
  local exclude
  exclude=$(git rev-parse --git-path info/exclude)
  if [[ $WHEEL_DIR != /* ]]; then # a folder of the repository: never committed
    mkdir -p "$(dirname "$exclude")"
    grep -qxF "/$WHEEL_DIR/" "$exclude" 2>/dev/null || echo "/$WHEEL_DIR/" >>"$exclude"
  fi
  du -sh "$WHEEL_DIR"
}

if [[ ${1:-} == fetch-wheels ]]; then
  fetch_wheels
  exit $?
fi

OUT=${OUT:-var/gpu-checks}
VENV=${VENV:-/tmp/myretail-gpu-venv}
PYTHON=${PYTHON:-python3}
BUDGET=${GPU_CHECKS_SECONDS:-340}
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: >"$SUMMARY"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export PYTHONUNBUFFERED=1 MYRETAIL_TEST_CUDA=1
started=$SECONDS

step() {  # step NAME CAP COMMAND...: at most CAP seconds (and never past the budget)
  local name=$1 cap=$2 left limit t0 rc
  shift 2
  left=$((BUDGET - (SECONDS - started)))
  limit=$((left < cap ? left : cap))
  if ((limit < 15)); then
    echo "$name: skipped, the time budget is spent" | tee -a "$SUMMARY"
    return
  fi
  t0=$SECONDS
  # The steps are functions of this script: a bash of their own runs them under timeout.
  timeout --kill-after=10 "$limit" bash -c '"$@"' "$name" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  echo "$name: exit $rc in $((SECONDS - t0)) s (limit $limit s)" | tee -a "$SUMMARY"
  tail -n 12 "$OUT/$name.log"
}

setup() {
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  "$PYTHON" -m venv --system-site-packages "$VENV" || return 1
  # A python3 that is itself a venv (the GPU image's) keeps its packages in its own
  # site-packages, which --system-site-packages does not see: a .pth file adds them.
  "$PYTHON" - "$VENV" <<'EOF'
import pathlib, site, sys
venv = pathlib.Path(sys.argv[1])
if sys.prefix != sys.base_prefix:
    target = next(venv.glob("lib/python*/site-packages"))
    (target / "gpu_image_packages.pth").write_text("\n".join(site.getsitepackages()) + "\n")
EOF
  local pip=("$VENV/bin/python" -m pip install --quiet --no-index --no-deps --no-build-isolation)
  "${pip[@]}" "$WHEEL_DIR"/*.whl || return 1
  "${pip[@]}" -e services/common -e services/inference -e services/finetune -e services/testkit \
    || return 1
  "$VENV/bin/python" - <<'EOF'
import importlib
import torch
for name in ("myretail_inference.app", "myretail_finetune.job", "myretail_testkit.llama3",
             "myretail_testkit.plugin", "bitsandbytes", "datasets", "openai", "jsonschema"):
    importlib.import_module(name)
import bitsandbytes, peft, transformers
gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), transformers "
      f"{transformers.__version__}, peft {peft.__version__}, bitsandbytes "
      f"{bitsandbytes.__version__}; GPU: {gpu}")
EOF
}

pytest_run() {
  "$VENV/bin/python" -m pytest -p no:cacheprovider -q -rfEs --durations=8 "$@"
}

qlora() {
  "$VENV/bin/python" - <<'EOF'
"""The real Job, qlora profile, on the Llama-3-shaped model; then the adapter in 4-bit."""
import tempfile, time
from pathlib import Path

import torch

from myretail_common.prompt import build_prompt
from myretail_finetune.config import FinetuneSettings
from myretail_finetune.job import run_job
from myretail_inference.engine_api import SamplingParams
from myretail_inference.loader import load_model
from myretail_inference.settings import InferenceSettings
from myretail_testkit.inference import start_engine
from myretail_testkit.llama3 import llama3_tiny_base, taught_examples
from myretail_testkit.project_files import LOYALTY_TRAIN, LOYALTY_VAL

work = Path(tempfile.mkdtemp(prefix="qlora-smoke-"))
settings = FinetuneSettings(
    train_dataset_file=str(LOYALTY_TRAIN), eval_dataset_file=str(LOYALTY_VAL),
    base_model=str(llama3_tiny_base()), model_tag="qlora-smoke",
    model_store_uri=(work / "store").as_uri(), checkpoint_dir=str(work / "checkpoints"),
    metrics_file=str(work / "metrics.jsonl"), profile="qlora", max_steps=30,
    checkpoint_steps=30, logging_steps=10, eval_before_training=False,
    eval_train_accuracy=False, eval_max_examples=16,
)
torch.cuda.reset_peak_memory_stats()
started = time.monotonic()
result = run_job(settings)
seconds = time.monotonic() - started
after, manifest = result.metrics["after"], result.manifest
print(
    f"QLoRA smoke: {manifest['train_steps']} steps in {seconds:.1f} s, "
    f"{manifest['metrics']['tokens_per_second']} tokens/s, trainable "
    f"{manifest['parameters']['trainable']:,} of {manifest['parameters']['total']:,}; "
    f"eval loss {after['eval_loss']}, gate accuracy {after['eval_accuracy']}"
)
print(
    f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB allocated, "
    f"{torch.cuda.max_memory_reserved() / 2**20:.0f} MiB reserved"
)
serving = InferenceSettings(
    model_store_uri=settings.store_uri(), model_name=settings.model_name,
    model_tag="qlora-smoke", model_cache_dir=work / "cache", quantization="nf4",
)
engine = start_engine(load_model(serving), max_batch_size=8)
record = taught_examples(1)[0]
answer = engine.generate_sync(
    engine.encode(build_prompt(record["prompt"])), SamplingParams(max_new_tokens=40)
)
print(f"served in 4-bit: {answer.finish_reason}, {answer.completion_tokens} tokens: {answer.text!r}")
print(f"engine: {engine.stats()}, {engine.kv_bytes_per_token} KV bytes per token")
engine.stop()
EOF
}

llama3_tests() {
  local loader=services/inference/tests/test_loader.py
  pytest_run services/inference/tests/test_llama3.py \
    "$loader::test_on_cuda_bf16_by_default_straight_onto_the_gpu" \
    "$loader::test_a_bf16_checkpoint_is_served_in_bf16_by_default" \
    "$loader::test_on_cuda_the_model_is_loaded_straight_to_the_gpu"
}

engine_tests() {
  export DTYPE=float32 # the tiny model's exact-answer comparisons, in fp32 on the GPU too
  pytest_run services/inference/tests/test_engine_faults.py \
    services/inference/tests/test_admission.py services/inference/tests/test_sampling.py \
    services/inference/tests/test_engine.py
}

bench() {
  "$VENV/bin/python" bench/inference_bench.py --rounds 1
}

export -f setup pytest_run llama3_tests engine_tests qlora bench
export VENV PYTHON WHEEL_DIR
echo "GPU checks, budget $BUDGET s, logs in $OUT"
step setup 90 setup
step llama3-tests 100 llama3_tests
step qlora 80 qlora
step bench 90 bench
# Last: its fixture fine-tunes the tiny model once on the CPU (about a minute).
step engine-tests 170 engine_tests
echo "total $((SECONDS - started)) s" | tee -a "$SUMMARY"
