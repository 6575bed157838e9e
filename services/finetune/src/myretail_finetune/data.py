"""Loyalty Q/A datasets: reading, validation, grading facts and tokenization.

Files are JSONL with one ``{"prompt", "response"[, "key_fact"]}`` object per line, read
through fsspec (``myretail_common.storage``) from a path, ``file://`` or ``s3://`` URI and
held as a ``datasets.Dataset``. Every problem is a :class:`DataError` naming the file and,
for content problems, the line number. Examples are formatted with the shared prompt
function (``myretail_common.prompt``) with EOS appended, and labelled so that the loss
is computed on the answer tokens only.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from myretail_common.prompt import build_prompt, build_training_text
from myretail_common.storage import ObjectNotFoundError, Storage, StorageError
from myretail_finetune.errors import DataError, StoreError

REQUIRED_FIELDS = ("prompt", "response")
IGNORE_INDEX = -100

_NUMBER = re.compile(r"\$?\d[\d,]*(?:\.\d+)?%?")
_TIERS = re.compile(r"\b(?:Member|Silver|Gold|Platinum)\b")


@dataclass(frozen=True)
class QADataset:
    """One validated dataset file."""

    name: str
    uri: str
    sha256: str
    records: list[dict[str, str]]

    def __len__(self) -> int:
        return len(self.records)

    def to_hf(self) -> Any:
        """The records as a ``datasets.Dataset`` (columns prompt, response, key_fact)."""
        from datasets import Dataset

        return Dataset.from_list(self.records)

    def describe(self) -> dict[str, Any]:
        return {"uri": self.uri, "sha256": self.sha256, "examples": len(self.records)}


def _read_bytes(name: str, uri: str, storage_options: dict[str, Any]) -> bytes:
    if "://" in uri:
        scheme, rest = uri.split("://", 1)
        parent, base = posixpath.split(rest)
        root = f"{scheme}://{parent}"
    else:
        parent, base = posixpath.split(uri)
        root = parent or "."
    if not base:
        raise DataError(f"{name} dataset file {uri!r} names a folder, not a file")
    try:
        storage = Storage(root, **(storage_options if "://" in uri else {}))
        return storage.read_bytes(base)
    except ObjectNotFoundError as exc:
        raise DataError(f"{name} dataset file {uri} does not exist") from exc
    except StorageError as exc:
        raise StoreError(f"cannot read the {name} dataset: {exc}") from exc
    except IsADirectoryError as exc:
        raise DataError(f"{name} dataset file {uri} is a folder, not a file") from exc
    except ValueError as exc:  # unsupported scheme
        raise DataError(f"{name} dataset file {uri!r}: {exc}") from exc


def parse_jsonl(name: str, uri: str, data: bytes) -> list[dict[str, str]]:
    """Validate JSONL content; errors name the file and the 1-based line number."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{name} dataset file {uri} is not UTF-8 text") from exc
    records: list[dict[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} dataset file {uri} line {number}"
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise DataError(f"{where}: not valid JSON ({exc.args[0].split(':')[0]})") from exc
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object with prompt and response")
        for field in REQUIRED_FIELDS:
            if field not in record:
                raise DataError(f"{where}: missing field {field!r}")
            if not isinstance(record[field], str) or not record[field].strip():
                raise DataError(f"{where}: field {field!r} must be a non-empty string")
        key_fact = record.get("key_fact")
        if key_fact is not None and not isinstance(key_fact, str):
            raise DataError(f"{where}: field 'key_fact' must be a string")
        records.append(
            {
                "prompt": record["prompt"],
                "response": record["response"],
                "key_fact": (key_fact or "").strip(),
            }
        )
    if not records:
        raise DataError(f"{name} dataset file {uri} is empty: it holds no examples")
    return records


def load_dataset_file(
    name: str, uri: str, storage_options: dict[str, Any] | None = None
) -> QADataset:
    """Read and validate one JSONL dataset (``name`` is "train" or "eval", for messages)."""
    data = _read_bytes(name, uri, storage_options or {})
    records = parse_jsonl(name, uri, data)
    return QADataset(name, uri, hashlib.sha256(data).hexdigest(), records)


def key_facts(record: dict[str, str]) -> list[str]:
    """What a correct answer must contain: the key fact, else the answer's numbers and tiers."""
    if record.get("key_fact"):
        return [record["key_fact"]]
    response = record["response"]
    facts = _NUMBER.findall(response) + _TIERS.findall(response)
    return [fact.rstrip(".,") for fact in facts] or [response]


def normalize(text: str) -> str:
    return " ".join(text.lower().split())


def contains_facts(answer: str, facts: list[str]) -> bool:
    answer_norm = normalize(answer)
    return all(normalize(fact) in answer_norm for fact in facts)


def tokenize_example(
    tokenizer: Any, prompt: str, response: str, max_seq_length: int
) -> dict[str, list[int]]:
    """input_ids/attention_mask/labels with the prompt tokens masked out of the loss."""
    prompt_text, completion = build_training_text(prompt, response, tokenizer.eos_token)
    prompt_ids = list(tokenizer(prompt_text, add_special_tokens=True)["input_ids"])
    completion_ids = list(tokenizer(completion, add_special_tokens=False)["input_ids"])
    if not completion_ids or completion_ids[-1] != tokenizer.eos_token_id:
        completion_ids.append(tokenizer.eos_token_id)
    input_ids = (prompt_ids + completion_ids)[:max_seq_length]
    labels = ([IGNORE_INDEX] * len(prompt_ids) + completion_ids)[:max_seq_length]
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def tokenize_dataset(dataset: QADataset, tokenizer: Any, max_seq_length: int) -> Any:
    """A ``datasets.Dataset`` of tokenized, loss-masked examples."""
    hf = dataset.to_hf()
    return hf.map(
        lambda row: tokenize_example(tokenizer, row["prompt"], row["response"], max_seq_length),
        remove_columns=hf.column_names,
        desc=None,
        load_from_cache_file=False,
        keep_in_memory=True,
    )


def prompts_of(dataset: QADataset) -> list[str]:
    return [build_prompt(record["prompt"]) for record in dataset.records]
