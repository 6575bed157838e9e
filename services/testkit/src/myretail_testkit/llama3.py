"""Real Llama 3 tokens, offline: Meta's tokenizer and a Llama-3-shaped tiny model.

* :func:`llama3_tokenizer` — Meta's Llama 3 tokenizer (``llama3/tokenizer.model`` from
  the PyPI package ``llama-models``, tiktoken format) converted by transformers into a
  fast tokenizer laid out like the hub's ``Meta-Llama-3-8B``: ``<|begin_of_text|>``
  added in front of every text, ``<|end_of_text|>`` as EOS, no pad token.
* :func:`llama3_tiny_config` — the architecture of Llama 3 8B shrunk: grouped-query
  attention, untied embeddings, the full 128256-token vocabulary, rope theta 500000.
* :func:`llama3_tiny_base` — that model, saved with the tokenizer (bf16 where the CPU
  has bf16 instructions). It is first taught a few loyalty answers on the tokens they
  use (cheap even with a 128k vocabulary), ending half of them with ``<|end_of_text|>``
  and half with ``<|eot_id|>``, so greedy answers have clear margins and stop on either.
* :func:`publish_llama3_adapter` — an (untrained, nonzero) LoRA adapter on that base,
  published to a ``file://`` model store like the fine-tune Job publishes.

Built once per process into a temporary folder (removed at exit). Only test code, the
benchmarks and ``ci/gpu-checks.sh`` import this module.
"""

from __future__ import annotations

import atexit
import functools
import json
import shutil
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from myretail_testkit.models import torch_threads
from myretail_testkit.project_files import LOYALTY_TRAIN

BOS = "<|begin_of_text|>"
END_OF_TEXT = "<|end_of_text|>"
END_OF_TURN = "<|eot_id|>"
BOS_ID, END_OF_TEXT_ID, END_OF_TURN_ID = 128000, 128001, 128009
VOCAB_SIZE = 128256
ROPE_THETA = 500000.0
# Meta's special tokens after the 128000 byte-pair tokens (llama_models.llama3.tokenizer).
_NAMED_SPECIAL = [
    BOS,
    END_OF_TEXT,
    "<|reserved_special_token_0|>",
    "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>",
    "<|step_id|>",
    "<|start_header_id|>",
    "<|end_header_id|>",
    "<|eom_id|>",
    END_OF_TURN,
    "<|python_tag|>",
    "<|image|>",
]
_SPECIAL_TOKENS = _NAMED_SPECIAL + [
    f"<|reserved_special_token_{2 + i}|>" for i in range(256 - len(_NAMED_SPECIAL))
]
# Answers the tiny model learns (the first ones of the training file).
TAUGHT_EXAMPLES = 12
MODEL_NAME = "llama3-tiny"
TAG = "lora-v1"


def tokenizer_model_file() -> Path:
    """Meta's ``llama3/tokenizer.model`` as shipped in the ``llama-models`` wheel."""
    return Path(str(resources.files("llama_models") / "llama3" / "tokenizer.model"))


@functools.cache
def _converted_tokenizer_dir() -> Path:
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    converted = TikTokenConverter(
        vocab_file=str(tokenizer_model_file()), extra_special_tokens=_SPECIAL_TOKENS
    ).converted()
    # As on the hub: byte-level offsets, then <|begin_of_text|> in front of every text.
    converted.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A",
                pair=f"{BOS} $A {BOS} $B",
                special_tokens=[(BOS, BOS_ID)],
            ),
        ]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=converted,
        bos_token=BOS,
        eos_token=END_OF_TEXT,
        model_max_length=8192,
        clean_up_tokenization_spaces=False,  # transformers 5 ignores it for BPE anyway
    )
    folder = _scratch_dir("llama3-tokenizer")
    tokenizer.save_pretrained(folder)
    return folder


def llama3_tokenizer() -> Any:
    """A fresh copy of the converted tokenizer (callers may change pad token or side)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_converted_tokenizer_dir())


def preferred_cpu_dtype() -> Any:
    """bf16 where the CPU has bf16 instructions (AVX512-BF16, AMX), else fp32."""
    import torch

    try:
        supported = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        supported = False
    return torch.bfloat16 if supported else torch.float32


def llama3_tiny_config(**overrides: Any) -> Any:
    """Llama 3 8B's shape, shrunk: GQA (4 query heads share 2 KV heads), untied
    embeddings, vocab 128256, rope theta 500000, bos/eos as Meta's."""
    from transformers import LlamaConfig

    values: dict[str, Any] = {
        "vocab_size": VOCAB_SIZE,
        "hidden_size": 64,
        "intermediate_size": 192,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 1024,
        "rope_theta": ROPE_THETA,
        "rms_norm_eps": 1e-5,
        "tie_word_embeddings": False,
        "bos_token_id": BOS_ID,
        "eos_token_id": END_OF_TEXT_ID,
        **overrides,
    }
    return LlamaConfig(**values)


def taught_examples(count: int = TAUGHT_EXAMPLES) -> list[dict[str, str]]:
    """The loyalty Q/A pairs the tiny model learns; even ones end with <|end_of_text|>."""
    lines = LOYALTY_TRAIN.read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()][:count]
    for index, record in enumerate(records):
        record["end"] = END_OF_TEXT if index % 2 == 0 else END_OF_TURN
    return records


def _teach(model: Any, sequences: list[list[int]], steps: int, seed: int) -> None:
    """Train ``model`` on ``sequences`` through a vocabulary of only the tokens they use.

    A small model over those tokens learns the texts; its weights then replace the big
    model's (transformer layers, and the used rows of the untied embeddings and LM head).
    """
    import torch
    from transformers import LlamaForCausalLM

    used = sorted({token for sequence in sequences for token in sequence})
    local = {token: index for index, token in enumerate(used)}
    small = LlamaForCausalLM(
        llama3_tiny_config(vocab_size=len(used), bos_token_id=None, eos_token_id=None)
    )
    length = max(len(sequence) for sequence in sequences)
    ids = torch.zeros((len(sequences), length), dtype=torch.long)
    labels = torch.full((len(sequences), length), -100, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.tensor([local[t] for t in sequence])
        labels[row, : len(sequence)] = ids[row, : len(sequence)]
    torch.manual_seed(seed)
    optimizer = torch.optim.AdamW(small.parameters(), lr=1e-2, weight_decay=0.0)
    for _ in range(steps):
        loss = small(input_ids=ids, labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    big, taught = model.state_dict(), small.state_dict()
    rows = torch.tensor(used)
    with torch.no_grad():
        for name, tensor in taught.items():
            if name in ("model.embed_tokens.weight", "lm_head.weight"):
                big[name][rows] = tensor
            else:
                big[name].copy_(tensor)


@functools.cache
def llama3_tiny_base(steps: int = 150, seed: int = 0) -> Path:
    """The Llama-3-shaped tiny model with the tokenizer, saved (see the module docstring)."""
    import torch
    from transformers import GenerationConfig, LlamaForCausalLM

    from myretail_common.prompt import build_training_text

    tokenizer = llama3_tokenizer()
    sequences = []
    for record in taught_examples():
        prompt, completion = build_training_text(record["prompt"], record["response"], "")
        ids = (
            tokenizer(prompt)["input_ids"]
            + tokenizer(completion, add_special_tokens=False)["input_ids"]
        )
        sequences.append([*ids, tokenizer.convert_tokens_to_ids(record["end"])])
    with torch_threads(1):  # a tiny model trains fastest on one thread of a busy machine
        torch.manual_seed(seed)
        model = LlamaForCausalLM(llama3_tiny_config())
        _teach(model, sequences, steps, seed)
    model.generation_config = GenerationConfig(
        bos_token_id=BOS_ID, eos_token_id=[END_OF_TEXT_ID, END_OF_TURN_ID]
    )
    folder = _scratch_dir("llama3-tiny-base")
    model.to(preferred_cpu_dtype()).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@dataclass(frozen=True)
class PublishedLlama3Adapter:
    """A LoRA tag on the tiny Llama 3 base (the shape ``make_settings`` takes)."""

    store_uri: str
    model_name: str
    tag: str
    base_model_path: Path


def publish_llama3_adapter(store_dir: Path, scale: float = 0.02, seed: int = 0) -> Any:
    """A LoRA adapter (B small and nonzero, so it changes the logits) on the tiny base,
    published with a manifest like the Job's (``method: lora``)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from myretail_common.model_store import ModelStore
    from myretail_common.storage import Storage

    base = llama3_tiny_base()
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    torch.manual_seed(seed)
    lora = get_peft_model(
        model,
        LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0.0, scale)
    staging = Path(tempfile.mkdtemp(prefix="llama3-adapter-"))
    try:
        lora.save_pretrained(str(staging))
        llama3_tokenizer().save_pretrained(staging)
        store_uri = store_dir.as_uri()
        ModelStore(Storage(store_uri)).publish(
            staging, MODEL_NAME, TAG, {"method": "lora", "base_model": str(base)}
        )
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PublishedLlama3Adapter(store_uri, MODEL_NAME, TAG, base)


def _scratch_dir(name: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=f"myretail-{name}-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder
