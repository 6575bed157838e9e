"""The shared fixtures produce what other suites rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from myretail_testkit.models import PublishedAdapter

pytestmark = pytest.mark.slow


def test_tiny_base_loads_with_auto_classes(tiny_base: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_base)
    model = AutoModelForCausalLM.from_pretrained(tiny_base)
    assert model.config.model_type == "llama"
    for token in ("bos_token", "eos_token", "pad_token", "unk_token"):
        assert getattr(tokenizer, token) is not None
    ids = tokenizer("### Question:\nHow many points?")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert 2_000_000 < sum(p.numel() for p in model.parameters()) < 6_000_000


def test_published_adapter_layout(published_adapter: PublishedAdapter) -> None:
    folder = published_adapter.tag_path
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "tokenizer.json",
        "manifest.json",
    ):
        assert (folder / name).is_file(), name
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["method"] == "lora"
    assert manifest["base_model"] == str(published_adapter.base_model_path)
    assert manifest["tag"] == published_adapter.tag
    assert manifest["model_name"] == published_adapter.model_name
    assert published_adapter.store_uri.startswith("file://")


@pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing`:FutureWarning")
def test_published_adapter_loads_with_peft(published_adapter: PublishedAdapter) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base = AutoModelForCausalLM.from_pretrained(published_adapter.base_model_path)
    model = PeftModel.from_pretrained(base, published_adapter.tag_path)
    tokenizer = AutoTokenizer.from_pretrained(published_adapter.tag_path)
    batch = tokenizer("### Question:\nWhat are the tiers?\n\n### Answer:\n", return_tensors="pt")
    output = model.generate(**batch, max_new_tokens=5, do_sample=False)
    assert output.shape[1] > batch["input_ids"].shape[1]
