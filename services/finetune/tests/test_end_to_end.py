"""End to end: the local profile fine-tunes the tiny base on the real loyalty FAQ.

The run under test is the session's ``published_adapter`` (``myretail_testkit.plugin``):
the cpu profile's defaults (LoRA, 400 steps), trained once per test session and shared
with the inference, RAG and browser tests. It is also the quality run of issue #3 (val
loss >= 30% below its pre-training value, >= 80% of training questions answered with
their key fact).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from myretail_common.prompt import build_prompt, extract_answer
from myretail_finetune.cli import main
from myretail_finetune.data import contains_facts, key_facts
from myretail_finetune.errors import TagExistsError
from myretail_finetune.job import run_job
from myretail_testkit.models import PublishedAdapter, torch_threads

pytestmark = pytest.mark.slow


def test_quality_targets(published_adapter: PublishedAdapter) -> None:
    before = published_adapter.metrics["before"]
    after = published_adapter.metrics["after"]
    print(
        f"\nquality run: {published_adapter.seconds:.0f}s, eval loss {before['eval_loss']:.3f}"
        f" -> {after['eval_loss']:.3f}, train accuracy {after['train_accuracy']:.1%}, "
        f"val accuracy {after['eval_accuracy']:.1%}"
    )
    assert after["eval_loss"] <= 0.7 * before["eval_loss"]
    assert after["train_accuracy"] >= 0.8
    assert after["train_examples"] >= 200
    assert 0.0 <= after["eval_accuracy"] <= 1.0
    assert after["eval_examples"] >= 40


def test_tag_published_with_manifest(
    published_adapter: PublishedAdapter, tiny_base: Path, project_root: Path
) -> None:
    folder = published_adapter.tag_path
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "manifest.json",
    ):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == published_adapter.manifest
    assert manifest["base_model"] == str(tiny_base.resolve())
    assert (manifest["method"], manifest["profile"], manifest["tag"]) == ("lora", "cpu", "v1")
    train_file = project_root / "data" / "loyalty_qa_train.jsonl"
    assert (
        manifest["datasets"]["train"]["sha256"]
        == hashlib.sha256(train_file.read_bytes()).hexdigest()
    )
    assert manifest["datasets"]["eval"]["examples"] >= 40
    args = manifest["training_arguments"]
    assert (args["lora_r"], args["learning_rate"], args["max_steps"]) == (16, 3e-3, 400)
    assert manifest["train_steps"] == 400
    assert manifest["tokens_trained"] > 0
    assert {"load_seconds", "train_seconds", "eval_after_seconds", "total_seconds"} <= set(
        manifest["timings"]
    )
    assert manifest["metrics"]["tokens_per_second"] > 0
    assert "adapter_model.safetensors" in manifest["files"]
    adapter_config = json.loads((folder / "adapter_config.json").read_text())
    assert adapter_config["r"] == 16


def test_progress_lines_and_metrics_jsonl(published_adapter: PublishedAdapter) -> None:
    metrics_file = published_adapter.workdir / "metrics.jsonl"
    records = [json.loads(line) for line in metrics_file.read_text().splitlines()]
    events = [r["event"] for r in records]
    assert events[0] == "start" and events[-1] == "summary"
    assert {"eval_before", "eval_after"} <= set(events)
    train = [r for r in records if r["event"] == "train"]
    assert len(train) == 400 // 10
    assert [r["step"] for r in train][-1] == 400
    assert all(r["total_steps"] == 400 and r["tokens_per_second"] > 0 for r in train)
    assert train[-1]["eta_seconds"] == 0
    assert train[-1]["loss"] < train[0]["loss"]


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")
def test_published_adapter_answers_with_key_facts(
    published_adapter: PublishedAdapter, tiny_base: Path, project_root: Path
) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(published_adapter.tag_path)
    model = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_base), published_adapter.tag_path
    )
    records = [
        json.loads(line)
        for line in (project_root / "data" / "loyalty_qa_train.jsonl").read_text().splitlines()[:10]
    ]
    correct = 0
    for record in records:
        batch = tokenizer(build_prompt(record["prompt"]), return_tensors="pt")
        output = model.generate(**batch, max_new_tokens=48, do_sample=False)
        answer = extract_answer(
            tokenizer.decode(output[0, batch["input_ids"].shape[1] :], skip_special_tokens=True)
        )
        correct += contains_facts(answer, key_facts(record))
    assert correct >= 8


def test_checkpoints_are_complete_and_pruned(published_adapter: PublishedAdapter) -> None:
    checkpoints = sorted((published_adapter.workdir / "checkpoints").glob("checkpoint-*"))
    assert [c.name for c in checkpoints] == ["checkpoint-350", "checkpoint-400"]
    for folder in checkpoints:
        assert (folder / "checkpoint-complete.json").is_file()
        assert (folder / "optimizer.pt").is_file() and (folder / "trainer_state.json").is_file()


def test_a_retry_of_the_published_run_succeeds_without_training(
    published_adapter: PublishedAdapter,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    restore_logging: None,
) -> None:
    """The Job's pod retried after it published (killed before it could exit 0): same
    inputs, same tag — the retry reports the published tag and exits 0."""
    assert published_adapter.manifest["run_fingerprint"]
    retry = published_adapter.settings.model_copy(
        update={"metrics_file": str(tmp_path / "metrics.jsonl")}
    )
    result = run_job(retry)
    assert result.manifest == published_adapter.manifest  # nothing trained or republished
    summary = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[-1])
    assert summary["already_published"] is True
    # The command line too: exit code 0, not "tag exists".
    settings = published_adapter.settings
    monkeypatch.setenv("MODEL_STORE_URI", settings.store_uri())
    flags = {
        "--train-dataset-file": settings.train_dataset_file,
        "--eval-dataset-file": settings.eval_dataset_file,
        "--base-model": str(settings.base_model),
        "--model-name": settings.model_name,
        "--model-tag": settings.tag(),
        "--profile": settings.profile,
        "--method": settings.method,
        "--min-eval-accuracy": str(settings.min_eval_accuracy),
        "--checkpoint-dir": str(tmp_path / "checkpoints"),
        "--metrics-file": str(tmp_path / "cli-metrics.jsonl"),
    }
    assert main(["train", *[part for flag in flags.items() for part in flag]]) == 0
    assert "error" not in capsys.readouterr().err


def test_tags_are_immutable_unless_forced(
    published_adapter: PublishedAdapter, tmp_path: Path
) -> None:
    # Another run (here: another learning rate) may not take the tag.
    other_run = published_adapter.settings.model_copy(
        update={"learning_rate": 1e-3, "metrics_file": str(tmp_path / "other.jsonl")}
    )
    with pytest.raises(TagExistsError, match="already exists"):
        run_job(other_run)
    # Forced: the run resumes from its final checkpoint (no training), re-evaluates,
    # republishes. On a copy of the run: the session's adapter is shared, read-only.
    copy = tmp_path / "run"
    shutil.copytree(published_adapter.workdir, copy)
    forced = published_adapter.settings.model_copy(
        update={
            "force_publish": True,
            "eval_train_accuracy": False,
            "model_store_uri": (copy / "store").as_uri(),
            "checkpoint_dir": str(copy / "checkpoints"),
            "metrics_file": str(copy / "metrics.jsonl"),
        }
    )
    with torch_threads(1):
        result = run_job(forced)
    assert result.manifest["train_steps"] == 400
    assert result.manifest["published_at"] >= published_adapter.manifest["published_at"]
    tag_dir = copy / "store" / published_adapter.model_name / published_adapter.tag
    assert json.loads((tag_dir / "manifest.json").read_text()) == result.manifest
