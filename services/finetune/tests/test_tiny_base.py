"""make-tiny-base: deterministic, from the project's data, and working without it."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from myretail_finetune.cli import main
from myretail_testkit.models import torch_threads
from myretail_testkit.project_files import tiny_base_args

FILES = ("model.safetensors", "tokenizer.json", "config.json", "myretail_tiny_base.json")


def digests(folder: Path) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in FILES}


def test_same_inputs_same_bytes(
    restore_logging: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with torch_threads(1):
        for name in ("a", "b"):
            code = main(
                [
                    "make-tiny-base",
                    "--out",
                    str(tmp_path / name),
                    "--pretrain-steps",
                    "2",
                    *tiny_base_args(),
                ]
            )
            assert code == 0
    assert "tiny base written to" in capsys.readouterr().out
    assert digests(tmp_path / "a") == digests(tmp_path / "b")
    provenance = json.loads((tmp_path / "a" / "myretail_tiny_base.json").read_text())
    assert {"catalog.csv", "myelite-program.md", "loyalty_qa_train.jsonl"} <= set(
        provenance["sources"]
    )
    # Rebuilding over an existing tiny base replaces it.
    with torch_threads(1):
        assert (
            main(
                [
                    "make-tiny-base",
                    "--out",
                    str(tmp_path / "a"),
                    "--pretrain-steps",
                    "0",
                    *tiny_base_args(),
                ]
            )
            == 0
        )
    assert (
        json.loads((tmp_path / "a" / "myretail_tiny_base.json").read_text())["pretrain_steps"] == 0
    )


def test_builds_from_built_in_text_without_project_data(tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from myretail_finetune.tiny_base import build_tiny_base

    with torch_threads(1):
        folder = build_tiny_base(tmp_path / "base", pretrain_steps=1)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder)
    assert tokenizer.eos_token == "</s>" and tokenizer.pad_token == "<pad>"
    assert model.config.vocab_size == len(tokenizer)
    assert json.loads((folder / "myretail_tiny_base.json").read_text())["sources"] == {}
