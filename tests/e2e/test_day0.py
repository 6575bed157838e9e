"""Day 0 on the local stack: the first install's sequence, from an empty store to passing
``helm test``, with the real code and the commands of the chart's render.

The install is values/dev.yaml with ``--set finetune.enabled=true --set finetune.model.tag=<the
tag dev serves>`` (what ``ci/kind-e2e.sh`` installs). Every process runs what the render says:
the init containers', the services' and the Jobs' command lines and environments, and the
``helm test`` pods' scripts. Only what exists in a cluster alone is substituted
(:mod:`myretail_testkit.rendered_pods`):

* the model-store PVC (``file:///store``, ``/store/...``) -> an S3 bucket on the session's
  SeaweedFS (``s3://<bucket>/...``), the pods' IAM role -> SeaweedFS's static keys;
* Service addresses (``http://myretail-<name>:<port>``) and the containers' ``PORT`` -> free
  loopback ports; the Qdrant StatefulSet -> embedded Qdrant behind Qdrant's REST API
  (:class:`~myretail_testkit.qdrant_server.QdrantServer`, with the release's API key);
* the pods' other volumes -> folders under tmp_path; Secrets -> the render's dev Secret;
* images -> this virtualenv's console scripts (their ENTRYPOINT/CMD read from the Dockerfile).

Kept small on purpose (test knobs, not substitutions): the fine-tune Job trains 5 steps and
skips the evaluations it does not gate on (``MAX_STEPS`` ... in :data:`FEW_STEPS`); the
export reads every 6th product of ``data/catalog.csv`` (206 of 1233, every category) and runs
while inference loads its model (it writes to the store only); the base model is the session's
``tiny_base`` (standing in for the hub's Llama 3). Logs: ``<tmp_path>/logs/``.
"""

from __future__ import annotations

import csv
import os
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from qdrant_client import QdrantClient

from myretail_common.storage import Storage
from myretail_testkit.processes import Supervised, http_ok
from myretail_testkit.project_files import CATALOG_CSV, REPO_ROOT
from myretail_testkit.qdrant_server import QdrantServer
from myretail_testkit.rag import metric_value
from myretail_testkit.rendered_pods import LocalCluster, Object, local_program, pod_spec
from myretail_testkit.seaweedfs import SeaweedFS

sys.path.insert(0, str(REPO_ROOT / "tests" / "chart"))
from chart_render import Rendered, annotations, containers, load_env_values, render_env

SERVED_TAG = load_env_values("dev")["inference"]["model"]["tag"]
DAY0 = {"finetune": {"enabled": True, "model": {"tag": SERVED_TAG}}}
STORE_CLAIM = load_env_values("dev")["global"]["modelStore"]["pvc"]["claimName"]
EMPTY = "empty: it is being restored or loaded"
FEW_STEPS = {
    "MAX_STEPS": "5",
    "EVAL_BEFORE_TRAINING": "false",
    "EVAL_TRAIN_ACCURACY": "false",
    "EVAL_MAX_EXAMPLES": "4",
    "CPU_THREADS": "1",
}
# What the test process passes on to every "image": the offline switches the repository's
# conftest sets (the images set them too) and the basics a process needs.
INHERITED = (
    "PATH",
    "HOME",
    "LANG",
    "LC_ALL",
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "HF_DATASETS_OFFLINE",
    "GRADIO_ANALYTICS_ENABLED",
    "ANONYMIZED_TELEMETRY",
    "TOKENIZERS_PARALLELISM",
)


@dataclass
class Day0:
    """The render, the local stand-ins for the cluster, and where the logs go."""

    rendered: Rendered
    cluster: LocalCluster
    folder: Path
    store_uri: str
    storage_options: dict[str, str]

    @property
    def logs(self) -> Path:
        return self.folder / "logs"

    def workload(self, kind: str, name: str) -> Object:
        return self.cluster.get(kind, f"myretail-{name}")

    def process(self, kind: str, name: str, container: str, **extra_env: str) -> Supervised:
        return self.cluster.process(self.workload(kind, name), container, self.logs, extra_env)

    def wait_ready(self, process: Supervised, name: str, timeout: float = 300) -> None:
        """Until the Deployment's readinessProbe passes."""
        url = self.cluster.probe_url(self.workload("Deployment", name), name)
        process.wait_ready(http_ok(url), timeout=timeout)

    def url(self, service: str, path: str = "") -> str:
        (port,) = self.workload("Service", service)["spec"]["ports"]
        return self.cluster.service_url(f"myretail-{service}", port["port"]) + path

    def export(self, sample: Path, snapshot: str) -> Supervised:
        """The operator's ``myretail-catalog export --from-csv`` (docs/aws.md), not started."""
        command = ["export", "--from-csv", str(sample), "--to", snapshot]
        return Supervised(
            [local_program("myretail-catalog"), *command],
            name="myretail-catalog export",
            log_path=self.logs / "catalog-export.log",
            env={**self.cluster.base_env, "HF_HOME": str(self.folder / "hf")},
            cwd=self.folder,
        )

    def helm_tests(self) -> dict[str, tuple[int, str]]:
        """Every ``helm test`` pod of the render, in Helm's order (hook weight): name ->
        (exit code, output)."""
        pods = [p for p in self.rendered.of_kind("Pod") if annotations(p)["helm.sh/hook"] == "test"]
        pods.sort(key=lambda p: int(annotations(p)["helm.sh/hook-weight"]))
        assert len(pods) == 4, [p["metadata"]["name"] for p in pods]
        return {
            pod["metadata"]["name"]: self.cluster.run(pod, "test", self.logs, timeout=240)
            for pod in pods
        }

    def run_job(self, name: str, timeout: float) -> str:
        """A Job's pod: its init containers in order, then its container; their output."""
        job = self.workload("Job", name)
        spec = pod_spec(job)
        outputs = []
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            code, output = self.cluster.run(job, container["name"], self.logs, timeout)
            assert code == 0, f"{name}/{container['name']} exited {code}:\n{output}"
            outputs.append(output)
        return "\n".join(outputs)


@pytest.fixture
def day0(tmp_path: Path, seaweedfs: SeaweedFS, s3_bucket: str) -> Day0:
    rendered = render_env("dev", DAY0)
    base_env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    base_env.update(PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1", **seaweedfs.env())
    store_uri = f"s3://{s3_bucket}"
    cluster = LocalCluster(
        rendered.objects,
        tmp_path / "pods",
        store_claim=STORE_CLAIM,
        store_uri=store_uri,
        base_env=base_env,
    )
    return Day0(rendered, cluster, tmp_path, store_uri, seaweedfs.storage_options())


def fill_store_before_day0(day0: Day0, base_model: Path) -> None:
    """What a bucket holds before the first install (docs/aws.md, ci/kind-e2e.sh): the base
    model and the datasets, where the render's fine-tune Job reads them; no adapter, no catalog
    snapshot."""
    env = day0.cluster.environment(day0.workload("Job", f"finetune-{SERVED_TAG}"), "finetune")
    uploads = {env["BASE_MODEL"]: base_model}
    for variable in ("TRAIN_DATASET_FILE", "EVAL_DATASET_FILE"):
        uploads[env[variable]] = REPO_ROOT / "data" / env[variable].rsplit("/", 1)[-1]
    for uri, local in uploads.items():
        assert uri.startswith(f"{day0.store_uri}/"), uri
        if local.is_dir():
            storage = Storage(uri, **day0.storage_options)
            for path in sorted(p for p in local.rglob("*") if p.is_file()):
                storage.write_bytes(path.relative_to(local).as_posix(), path.read_bytes())
        else:
            folder, name = uri.rsplit("/", 1)
            Storage(folder, **day0.storage_options).write_bytes(name, local.read_bytes())


def catalog_sample(folder: Path) -> tuple[Path, int]:
    """Every 6th product of data/catalog.csv (each category appears): the CSV and its size."""
    with CATALOG_CSV.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header, rows = next(reader), list(reader)[::6]
    sample = folder / "catalog-sample.csv"
    with sample.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *rows])
    return sample, len(rows)


def flag_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def assert_no_model_tag_check(rendered: Rendered) -> None:
    """The install runs no model-tag check: its own fine-tune Job publishes the served tag."""
    assert rendered.find("Job", "myretail-inference-check-tag") is None
    hook_commands = [
        [*container.get("command", []), *container.get("args", [])]
        for hook in rendered.hooks()
        for container in containers(hook)
    ]
    assert hook_commands, "the render has hooks (the restore, the tests)"
    assert not [command for command in hook_commands if "check-tag" in command]


def assert_catalog_state(day0: Day0, state: str) -> None:
    ready = httpx.get(day0.url("rag-api", "/readyz"), timeout=30)
    assert ready.status_code == 200, ready.text
    assert ready.json()["checks"]["catalog"] == state


def assert_helm_tests_fail_only_on_the_catalog(results: dict[str, tuple[int, str]]) -> None:
    """Before the restore: the inference and UI checks pass, the catalog checks fail."""
    for name in ("myretail-test-inference", "myretail-test-chatbot-ui"):
        code, output = results[name]
        assert code == 0 and "all checks passed" in output, output
    code, output = results["myretail-test-qdrant"]
    assert code == 1, output
    assert "FAIL GET /collections/catalog: 404" in output, output
    code, output = results["myretail-test-rag-api"]
    assert code == 1, output
    assert "PASS GET /readyz" in output, "the RAG API is ready with an empty catalog"
    assert "FAIL POST /generate: 503" in output and f"catalog is {EMPTY}" in output, output


def test_the_local_stand_ins_replace_only_what_a_cluster_has(tmp_path: Path) -> None:
    """What the day-0 walk runs is the render with addresses, paths and Secrets replaced."""
    rendered = render_env("dev", DAY0)
    cluster = LocalCluster(
        rendered.objects, tmp_path, store_claim=STORE_CLAIM, store_uri="s3://day0", base_env={}
    )
    rag_api = cluster.get("Deployment", "myretail-rag-api")
    assert cluster.argv(rag_api, "rag-api") == [local_program("myretail-rag")]  # the image's CMD
    env = cluster.environment(rag_api, "rag-api")
    assert env["PORT"] == str(cluster.local_port("myretail-rag-api", 8080))
    assert env["QDRANT_ENDPOINT"] == cluster.service_url("myretail-qdrant", 6333)
    assert env["OPENAI_BASE_URL"] == cluster.service_url("myretail-inference", 8000) + "/v1"
    assert env["HISTORY_URL"] == f"sqlite:///{tmp_path}/myretail-rag-api/data/history.db"
    assert (
        env["QDRANT_API_KEY"]
        == load_env_values("dev")["global"]["devSecrets"]["data"]["qdrant-api-key"]
    )
    (rendered_rag,) = pod_spec(rendered.get("Deployment", "myretail-rag-api"))["containers"]
    kept = {e["name"]: e["value"] for e in rendered_rag["env"] if "value" in e}
    for name in ("CHAT_PROVIDER", "CHAT_MODEL", "EMBEDDINGS_PROVIDER", "QDRANT_COLLECTION"):
        assert env[name] == kept[name]
    finetune = cluster.get("Job", f"myretail-finetune-{SERVED_TAG}")
    assert cluster.argv(finetune, "finetune") == [local_program("myretail-finetune"), "train"]
    assert cluster.environment(finetune, "finetune")["BASE_MODEL"] == "s3://day0/base/tiny-llama"
    assert "HUGGING_FACE_HUB_TOKEN" not in cluster.environment(finetune, "finetune")  # optional
    restore = cluster.get("Job", "myretail-catalog-restore")
    assert cluster.argv(restore, "restore")[1:] == [
        "restore",
        "--from",
        "s3://day0/catalog/latest",
        "--if-missing",
        "skip",
    ]
    test_pod = cluster.get("Pod", "myretail-test-rag-api")
    (rendered_test,) = pod_spec(test_pod)["containers"]
    assert cluster.argv(test_pod, "test") == [sys.executable, *rendered_test["command"][1:]]
    assert cluster.environment(test_pod, "test")["BASE_URL"] == cluster.service_url(
        "myretail-rag-api", 8080
    )


def test_the_qdrant_stand_in_wants_the_api_key_except_on_its_health_routes() -> None:
    with QdrantServer(QdrantClient(":memory:"), api_key="the-key") as qdrant:
        assert httpx.get(f"{qdrant.url}/collections").status_code == 401
        assert (
            httpx.get(f"{qdrant.url}/collections", headers={"api-key": "other"}).status_code == 401
        )
        assert httpx.get(f"{qdrant.url}/collections", headers={"api-key": "the-key"}).is_success
        bearer = {"Authorization": "Bearer the-key"}
        assert httpx.get(f"{qdrant.url}/collections", headers=bearer).is_success
        assert httpx.get(f"{qdrant.url}/readyz").text == "all shards are ready"


@pytest.mark.slow
def test_day0_from_an_empty_store_to_passing_helm_tests(day0: Day0, tiny_base: Path) -> None:
    cluster = day0.cluster
    assert_no_model_tag_check(day0.rendered)
    wait_argv = cluster.argv(day0.workload("Deployment", "inference"), "wait-for-model")
    model = flag_value(wait_argv, "--model")
    assert flag_value(wait_argv, "--tag") == SERVED_TAG
    snapshot = flag_value(
        cluster.argv(day0.workload("Job", "catalog-restore"), "restore"), "--from"
    )
    assert snapshot.startswith(f"{day0.store_uri}/"), snapshot

    # 1. An empty store (base model and datasets only) and an empty Qdrant, with the API key
    # the release gives its Qdrant.
    fill_store_before_day0(day0, tiny_base)
    qdrant_env = cluster.environment(day0.workload("StatefulSet", "qdrant"), "qdrant")
    qdrant = QdrantServer(
        QdrantClient(":memory:"),
        api_key=qdrant_env["QDRANT__SERVICE__API_KEY"],
        port=cluster.local_port("myretail-qdrant", 6333),
    )
    with ExitStack() as stack:
        stack.enter_context(qdrant)
        assert qdrant.client.get_collections().collections == []

        # 2. The release's pods start: the RAG API, the UI and the inference pod's init
        # container, which waits for the tag; then the fine-tune Job.
        rag = stack.enter_context(day0.process("Deployment", "rag-api", "rag-api"))
        ui = stack.enter_context(day0.process("Deployment", "chatbot-ui", "chatbot-ui"))
        waiting = stack.enter_context(day0.process("Deployment", "inference", "wait-for-model"))
        waiting_line = f"waiting for model tag {model}:{SERVED_TAG} at {day0.store_uri}/"
        waiting.wait_ready(lambda: waiting_line in waiting.output(), timeout=120)
        assert waiting.alive(), "nothing has published the tag yet: it keeps waiting"
        finetune = stack.enter_context(
            day0.process("Job", f"finetune-{SERVED_TAG}", "finetune", **FEW_STEPS)
        )
        day0.wait_ready(rag, "rag-api")
        assert_catalog_state(day0, EMPTY)
        question = {"prompt": "Please suggest walking shoes for a 60-year-old man"}
        empty = httpx.post(day0.url("rag-api", "/generate"), json=question, timeout=30)
        assert empty.status_code == 503, empty.text
        assert empty.json()["error"]["message"] == f"catalog is {EMPTY}"

        # 3. The fine-tune publishes the tag; the init container ends; inference serves it.
        finetune.wait_success(timeout=900)
        # 4 (begins). Meanwhile the operator makes the first catalog snapshot from a CSV, at
        # the URI the restore hook reads (it writes to the store only, never to Qdrant).
        sample, products = catalog_sample(day0.folder)
        export = stack.enter_context(day0.export(sample, snapshot))
        assert waiting.wait(timeout=120) == 0, waiting.output()
        assert f"ok: {model}:{SERVED_TAG} is published" in waiting.output()
        server = stack.enter_context(day0.process("Deployment", "inference", "inference"))
        day0.wait_ready(server, "inference")
        day0.wait_ready(ui, "chatbot-ui")

        # 5a. helm test before the restore: only the catalog checks fail.
        assert_helm_tests_fail_only_on_the_catalog(day0.helm_tests())

        # 4. The snapshot is there; the restore hook fills the catalog; the RAG API notices it
        # without a restart.
        export.wait_success(timeout=600)
        assert f"exported {products} points to {snapshot}" in export.output()
        restored = day0.run_job("catalog-restore", timeout=600)
        assert f"restored {products} points into 'catalog'" in restored, restored
        assert rag.alive()
        assert_catalog_state(day0, f"{products} products")
        metrics = httpx.get(day0.url("rag-api", "/metrics"), timeout=30).text
        assert metric_value(metrics, "rag_catalog_products") == products

        # 5b. Every helm test pod passes.
        for name, (code, output) in day0.helm_tests().items():
            assert code == 0, f"{name}:\n{output}"
            assert output.rstrip().endswith("all checks passed"), f"{name}:\n{output}"
