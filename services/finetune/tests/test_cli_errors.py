"""Bad input: one clear ``error:`` line, a distinct non-zero exit code, nothing published."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from myretail_common.model_store import ModelStore
from myretail_common.ports import free_port
from myretail_common.storage import Storage
from myretail_finetune.cli import main
from myretail_finetune.errors import ExitCode


@pytest.fixture
def job(
    clean_env: pytest.MonkeyPatch,
    restore_logging: None,
    tiny_base: Path,
    project_root: Path,
    tmp_path: Path,
) -> pytest.MonkeyPatch:
    """A valid, tiny Job configuration; each test breaks one thing."""
    env = {
        "TRAIN_DATASET_FILE": str(project_root / "data" / "loyalty_qa_train.jsonl"),
        "EVAL_DATASET_FILE": str(project_root / "data" / "loyalty_qa_val.jsonl"),
        "BASE_MODEL": str(tiny_base),
        "MODEL_TAG": "v1",
        "MODEL_STORE_URI": (tmp_path / "store").as_uri(),
        "CHECKPOINT_DIR": str(tmp_path / "checkpoints"),
        "MAX_STEPS": "2",
        "BATCH_SIZE": "4",
        "EVAL_BEFORE_TRAINING": "false",
        "EVAL_TRAIN_ACCURACY": "false",
        "EVAL_MAX_EXAMPLES": "2",
        "EVAL_MAX_NEW_TOKENS": "4",
        "CPU_THREADS": "1",
        "LOG_FORMAT": "text",
    }
    for name, value in env.items():
        clean_env.setenv(name, value)
    return clean_env


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(list(args))
    err = capsys.readouterr().err
    return code, err


def nothing_published(tmp_path: Path) -> bool:
    store = tmp_path / "store"
    return not store.exists() or not any(store.rglob("manifest.json"))


def error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (None, ExitCode.DATA, "train dataset file .* does not exist"),
        ("", ExitCode.DATA, "is empty"),
        (
            '{"prompt": "q", "response": "a"}\n{"prompt": "q"\n',
            ExitCode.DATA,
            "line 2: not valid JSON",
        ),
        (
            '{"prompt": "q", "response": "a"}\n{"prompt": "q"}\n',
            ExitCode.DATA,
            "line 2: missing field 'response'",
        ),
    ],
)
def test_bad_training_file(
    job: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    content: str | None,
    code: int,
    message: str,
) -> None:
    path = tmp_path / "train.jsonl"
    if content is not None:
        path.write_text(content)
    job.setenv("TRAIN_DATASET_FILE", str(path))
    status, err = run(capsys, "train")
    assert status == code
    assert re.search(message, error_line(err))
    assert nothing_published(tmp_path)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--learning-rate", "0"], "learning_rate"),
        (["--batch-size", "-3"], "batch_size"),
        (["--method", "half"], "FINETUNE_METHOD|method"),
        (["--model-tag", "bad tag!"], "invalid tag"),
    ],
)
def test_invalid_hyper_parameters(
    job: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    flags: list[str],
    message: str,
) -> None:
    status, err = run(capsys, "train", *flags)
    assert status == ExitCode.CONFIG
    assert re.search(message, error_line(err))
    assert nothing_published(tmp_path)


def test_missing_base_model(
    job: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job.setenv("BASE_MODEL", str(tmp_path / "no-such-model"))
    status, err = run(capsys)
    assert status == ExitCode.CONFIG
    assert "neither an existing folder nor a hub id" in error_line(err)


def test_unreachable_store(
    job: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    job.setenv("MODEL_STORE_URI", "s3://models/loyalty")
    job.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    job.setenv("AWS_ACCESS_KEY_ID", "key-id")
    job.setenv("AWS_SECRET_ACCESS_KEY", "very-secret-key-value")
    status, err = run(capsys, "train")
    assert status == ExitCode.STORE
    line = error_line(err)
    assert "unreachable" in line and "s3://models/loyalty" in line
    assert "very-secret-key-value" not in err


def test_tag_already_exists(
    job: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ModelStore(Storage((tmp_path / "store").as_uri()))
    existing = tmp_path / "existing"
    existing.mkdir()
    (existing / "adapter_config.json").write_text("{}")
    store.publish(existing, "loyalty-assistant", "v1", {"base_model": "x"})
    before = json.loads((tmp_path / "store/loyalty-assistant/v1/manifest.json").read_text())
    status, err = run(capsys, "train")
    assert status == ExitCode.TAG_EXISTS
    assert "already exists" in error_line(err)
    after = json.loads((tmp_path / "store/loyalty-assistant/v1/manifest.json").read_text())
    assert after == before  # untouched


def test_qlora_without_cuda_is_a_clear_error(
    job: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    status, err = run(capsys, "train", "--profile", "qlora")
    assert status == ExitCode.ENVIRONMENT
    assert "needs a CUDA GPU" in error_line(err)
    assert nothing_published(tmp_path)


def test_gate_publishes_nothing(
    job: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, err = run(capsys, "train", "--min-eval-accuracy", "1.0")
    assert status == ExitCode.GATE
    assert "below the gate" in error_line(err)
    assert nothing_published(tmp_path)


def test_make_tiny_base_refuses_a_foreign_folder(
    restore_logging: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    status, err = run(capsys, "make-tiny-base", "--out", str(tmp_path))
    assert status == ExitCode.CONFIG
    assert "not a tiny base" in error_line(err)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_make_tiny_base_refuses_a_missing_input_file(
    restore_logging: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no-such-catalog.csv"
    status, err = run(
        capsys, "make-tiny-base", "--out", str(tmp_path / "base"), "--catalog", str(missing)
    )
    assert status == ExitCode.CONFIG
    assert "input file not found" in error_line(err) and str(missing) in error_line(err)
    assert not (tmp_path / "base").exists()
