"""A tiny Llama-architecture base model built offline from the project's own data.

``build_tiny_base`` trains a byte-level BPE tokenizer with ``tokenizers`` on the catalog,
the loyalty Q/A files and the MyElite policy, builds a ~4 M parameter ``LlamaForCausalLM``
from a ``LlamaConfig`` and gives it a short causal-LM pre-training pass on the catalog
and policy text. The folder loads with ``AutoModelForCausalLM.from_pretrained`` and
``AutoTokenizer.from_pretrained``. Same inputs and seed give the same files; the build
takes seconds on two CPU cores. Tests, CI and ``make demo`` use it as the base model.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import shutil
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

PROVENANCE_NAME = "myretail_tiny_base.json"
SPECIAL_TOKENS = {"unk": "<unk>", "bos": "<s>", "eos": "</s>", "pad": "<pad>"}
DEFAULT_PRETRAIN_STEPS = 30
DEFAULT_VOCAB_SIZE = 2048

# Text used when no input files are named (e.g. a bare install), so the command still
# produces a working model; the real build learns from the project's data files.
_FALLBACK_TEXT = """MyElite is the free loyalty program of MyRetail, the online retailer.
MyElite has four tiers: Member, Silver, Gold and Platinum. Members earn points on every
purchase and redeem them for rewards. Silver, Gold and Platinum members get cashback,
free shipping and longer return windows. Points expire after 12 months without activity.
"""


@dataclass(frozen=True)
class TinyBaseSpec:
    """Architecture of the tiny base (OFFLINE.md: ~6-7 steps/s at batch 32 on 2 cores)."""

    hidden_size: int = 256
    intermediate_size: int = 704
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    max_position_embeddings: int = 512
    vocab_size: int = DEFAULT_VOCAB_SIZE
    pretrain_block_size: int = 128
    pretrain_batch_size: int = 8
    pretrain_learning_rate: float = 2e-3
    # Tied embeddings at the default 0.02 std cap the logits of a barely pre-trained model
    # near zero, and LoRA (which cannot change them) then cannot lower the loss; unit-scale
    # logits (std 1/sqrt(hidden)) keep the base LoRA-trainable like a real pre-trained one.
    embedding_init_std: float | None = 0.0625


@dataclass(frozen=True)
class TinyBaseInputs:
    """The files the tokenizer and the pre-training pass learn from, named explicitly.

    ``catalog`` is a catalog CSV, ``policy`` the MyElite policy (Markdown), ``qa_files`` the
    loyalty Q/A JSONL files (tokenizer only). Every field is optional; with none the model
    is built from a short built-in text, so the command also works from a bare install.
    """

    catalog: Path | None = None
    policy: Path | None = None
    qa_files: tuple[Path, ...] = ()

    def files(self) -> list[Path]:
        return [path for path in (self.catalog, self.policy, *self.qa_files) if path]

    def missing(self) -> list[Path]:
        return [path for path in self.files() if not Path(path).is_file()]


@dataclass(frozen=True)
class ProjectTexts:
    """The texts the tokenizer and the pre-training pass learn from."""

    tokenizer_texts: list[str]
    pretrain_texts: list[str]
    sources: list[Path]


def _catalog_texts(path: Path) -> list[str]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [
        ". ".join(f"{key}: {value}" for key, value in row.items() if key and value) + "."
        for row in rows
    ]


def _qa_texts(path: Path) -> list[str]:
    from myretail_common.prompt import build_prompt

    texts = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            question, answer = str(record.get("prompt", "")), str(record.get("response", ""))
            texts.append(build_prompt(question) + answer)
    return texts


def collect_texts(inputs: TinyBaseInputs) -> ProjectTexts:
    """Read the named catalog, policy and loyalty Q/A files."""
    tokenizer_texts: list[str] = []
    pretrain_texts: list[str] = []
    sources: list[Path] = []
    if inputs.catalog is not None:
        rows = _catalog_texts(inputs.catalog)
        tokenizer_texts += rows
        pretrain_texts += rows
        sources.append(inputs.catalog)
    if inputs.policy is not None:
        text = inputs.policy.read_text(encoding="utf-8")
        paragraphs = [part.strip() for part in text.split("\n\n") if part.strip()]
        tokenizer_texts += paragraphs
        pretrain_texts += paragraphs
        sources.append(inputs.policy)
    for qa_file in inputs.qa_files:
        tokenizer_texts += _qa_texts(qa_file)
        sources.append(qa_file)
    if not pretrain_texts:
        logger.warning("no catalog or policy given; building the tiny base from built-in text")
        tokenizer_texts.append(_FALLBACK_TEXT)
        pretrain_texts.append(_FALLBACK_TEXT)
    return ProjectTexts(tokenizer_texts, pretrain_texts, sources)


def train_tokenizer(texts: Iterable[str], vocab_size: int = DEFAULT_VOCAB_SIZE) -> Any:
    """A byte-level BPE tokenizer (``PreTrainedTokenizerFast``) with bos/eos/pad/unk."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from myretail_common.prompt import ANSWER_HEADER, QUESTION_HEADER

    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk"]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=list(SPECIAL_TOKENS.values()),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # The prompt headers are repeated so they become single, stable tokens.
    corpus = [*texts, *([f"{QUESTION_HEADER}\n\n{ANSWER_HEADER}\n"] * 8)]
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    bos = SPECIAL_TOKENS["bos"]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A",
        pair=f"{bos} $A {bos} $B",
        special_tokens=[(bos, tokenizer.token_to_id(bos))],
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=SPECIAL_TOKENS["bos"],
        eos_token=SPECIAL_TOKENS["eos"],
        unk_token=SPECIAL_TOKENS["unk"],
        pad_token=SPECIAL_TOKENS["pad"],
        model_max_length=TinyBaseSpec.max_position_embeddings,
        padding_side="right",
        clean_up_tokenization_spaces=False,
    )


def _build_model(tokenizer: Any, spec: TinyBaseSpec) -> Any:
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_attention_heads,
        max_position_embeddings=spec.max_position_embeddings,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = LlamaForCausalLM(config)
    if spec.embedding_init_std is not None:
        import torch

        embeddings: Any = model.get_input_embeddings()
        with torch.no_grad():
            embeddings.weight.normal_(0.0, spec.embedding_init_std)
    model.generation_config = GenerationConfig(
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        do_sample=False,
    )
    return model


def _pretrain(
    model: Any, tokenizer: Any, texts: Sequence[str], steps: int, seed: int, spec: TinyBaseSpec
) -> float | None:
    """A short causal-LM pass over ``texts``; returns the last loss."""
    import torch

    if steps <= 0:
        return None
    ids: list[int] = []
    for text in texts:
        ids += tokenizer(text, add_special_tokens=True)["input_ids"] + [tokenizer.eos_token_id]
    block = spec.pretrain_block_size
    while len(ids) < block + 1:
        ids = ids + ids
    data = torch.tensor(ids, dtype=torch.long)
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec.pretrain_learning_rate)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min(1.0, (step + 1) / 10) * max(0.1, 1 - step / steps)
    )
    model.train()
    loss_value = None
    for _ in range(steps):
        starts = torch.randint(
            0, len(data) - block, (spec.pretrain_batch_size,), generator=generator
        )
        batch = torch.stack([data[s : s + block] for s in starts.tolist()])
        loss = model(input_ids=batch, labels=batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
    model.eval()
    return loss_value


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build_tiny_base(
    out_dir: Path,
    *,
    seed: int = 0,
    pretrain_steps: int = DEFAULT_PRETRAIN_STEPS,
    inputs: TinyBaseInputs | None = None,
    spec: TinyBaseSpec | None = None,
) -> Path:
    """Build the tiny base model and tokenizer into ``out_dir`` and return it.

    The folder is assembled next to ``out_dir`` and renamed into place, so it is never
    seen half-written. An existing tiny base at ``out_dir`` is replaced; any other
    non-empty folder is refused, and so is an input file that does not exist.
    """
    import torch
    from transformers import set_seed

    spec = spec or TinyBaseSpec()
    inputs = inputs or TinyBaseInputs()
    if missing := inputs.missing():
        raise FileNotFoundError(f"input file not found: {', '.join(map(str, missing))}")
    out_dir = Path(out_dir).resolve()
    if out_dir.exists() and any(out_dir.iterdir()) and not (out_dir / PROVENANCE_NAME).exists():
        raise FileExistsError(f"{out_dir} is not empty and is not a tiny base: refusing to replace")
    started = time.monotonic()
    texts = collect_texts(inputs)
    set_seed(seed)
    tokenizer = train_tokenizer(texts.tokenizer_texts, spec.vocab_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _build_model(tokenizer, spec)
        final_loss = _pretrain(model, tokenizer, texts.pretrain_texts, pretrain_steps, seed, spec)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = out_dir.parent / f".{out_dir.name}.tmp-{uuid.uuid4().hex}"
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        provenance = {
            "kind": "myretail-tiny-base",
            "seed": seed,
            "pretrain_steps": pretrain_steps,
            "pretrain_final_loss": final_loss,
            "parameters": sum(p.numel() for p in model.parameters()),
            "vocab_size": len(tokenizer),
            # By file name, so the same inputs give the same bytes wherever they lie.
            "sources": {path.name: _sha256(path) for path in texts.sources},
        }
        (staging / PROVENANCE_NAME).write_text(json.dumps(provenance, indent=2, sort_keys=True))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    logger.info(
        "tiny base built",
        extra={
            "path": str(out_dir),
            "parameters": provenance["parameters"],
            "pretrain_steps": pretrain_steps,
            "pretrain_final_loss": final_loss,
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    return out_dir
