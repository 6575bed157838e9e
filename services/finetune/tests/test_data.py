"""Dataset reading, validation, grading facts and loss masking."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from myretail_common.prompt import build_prompt
from myretail_finetune.data import (
    IGNORE_INDEX,
    contains_facts,
    key_facts,
    load_dataset_file,
    parse_jsonl,
    tokenize_example,
)
from myretail_finetune.errors import DataError


def test_project_files_are_valid(project_root: Path) -> None:
    train = load_dataset_file("train", str(project_root / "data" / "loyalty_qa_train.jsonl"))
    val = load_dataset_file("eval", (project_root / "data" / "loyalty_qa_val.jsonl").as_uri())
    assert len(train) >= 100 and len(val) >= 20
    assert len(train.sha256) == 64
    assert set(train.to_hf().column_names) == {"prompt", "response", "key_fact"}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        (b"\n  \n", "is empty"),
        (
            b'{"prompt": "a", "response": "b"}\n{"prompt": "a", "response": \n',
            "line 2: not valid JSON",
        ),
        (b'{"prompt": "a", "response": "b"}\n\n[1, 2]\n', "line 3: expected a JSON object"),
        (b'{"prompt": "a"}\n', "line 1: missing field 'response'"),
        (b'{"response": "a"}\n', "line 1: missing field 'prompt'"),
        (b'{"prompt": " ", "response": "b"}\n', "line 1: field 'prompt' must be a non-empty"),
        (b'{"prompt": "a", "response": "b", "key_fact": 3}\n', "key_fact"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_malformed_content(content: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message):
        parse_jsonl("train", "train.jsonl", content)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_dataset_file("eval", str(tmp_path / "nope.jsonl"))
    with pytest.raises(DataError, match="does not exist"):
        load_dataset_file("eval", (tmp_path / "nope.jsonl").as_uri())


def test_key_facts_fall_back_to_numbers_and_tiers() -> None:
    assert key_facts({"prompt": "q", "response": "r", "key_fact": "250 points"}) == ["250 points"]
    facts = key_facts(
        {"prompt": "q", "response": "Gold members get 2% cashback over $1,500.", "key_fact": ""}
    )
    assert facts == ["2%", "$1,500", "Gold"]
    assert contains_facts("gold  members get 2% back on $1,500", facts)
    assert not contains_facts("Silver members get 2%", facts)
    assert key_facts({"prompt": "q", "response": "It is free.", "key_fact": ""}) == ["It is free."]


def test_loss_only_on_answer_tokens(tiny_base: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    example = tokenize_example(tokenizer, "How much is Gold?", "Gold needs $1,500.", 256)
    prompt_ids = tokenizer(build_prompt("How much is Gold?"))["input_ids"]
    labels = example["labels"]
    assert labels[: len(prompt_ids)] == [IGNORE_INDEX] * len(prompt_ids)
    answer = [t for t in labels if t != IGNORE_INDEX]
    assert answer[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(answer, skip_special_tokens=True) == "Gold needs $1,500."
    assert example["input_ids"][: len(prompt_ids)] == prompt_ids
    assert len(example["input_ids"]) == len(labels) == len(example["attention_mask"])


def test_jsonl_from_real_file_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    lines = [json.dumps({"prompt": f"q{i}", "response": f"a{i}"}) for i in range(5)]
    lines[3] = '{"prompt": "q3", '
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"train.jsonl line 4: not valid JSON"):
        load_dataset_file("train", str(path))
