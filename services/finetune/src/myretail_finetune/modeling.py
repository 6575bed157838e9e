"""Loading the base model and tokenizer for a profile, and wrapping it for training.

* ``cpu`` — fp32 weights on the CPU, method ``lora`` (peft LoRA) or ``full``.
* ``qlora`` — the production recipe: 4-bit NF4 with double quantization and bf16
  compute (bitsandbytes, CUDA only), ``prepare_model_for_kbit_training`` with gradient
  checkpointing, LoRA on every attention and MLP projection. Asking for it without CUDA
  is an :class:`EnvironmentProblem`, never a silent fallback.

The base model is a local folder, a folder in a store (``file://``/``s3://`` URI,
downloaded into the model cache) or a hub id (with ``HUGGING_FACE_HUB_TOKEN``).
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myretail_common.storage import ObjectNotFoundError, Storage, StorageError
from myretail_finetune.config import FinetuneSettings, HyperParameters, writable_dir
from myretail_finetune.errors import ConfigError, EnvironmentProblem, StoreError

logger = logging.getLogger(__name__)

STORE_SCHEMES = ("file://", "s3://", "s3a://")


@dataclass(frozen=True)
class BaseModelRef:
    """Where the base model comes from (``spec``, recorded in the manifest) and is loaded."""

    spec: str
    load_from: str
    kind: str  # "path", "store" or "hub"


def resolve_base_model(settings: FinetuneSettings) -> BaseModelRef:
    """Find (and for store URIs, download) the base model."""
    spec = settings.base_model_spec()
    if spec.startswith(STORE_SCHEMES):
        if spec.startswith("file://"):
            local = Path(spec.split("://", 1)[1])
            if not local.is_dir():
                raise ConfigError(f"base model folder {spec} does not exist")
            return BaseModelRef(spec, str(local.resolve()), "store")
        digest = hashlib.sha256(spec.encode()).hexdigest()[:16]
        target = settings.model_cache() / "base-models" / digest
        if not (target / "config.json").is_file():
            try:
                storage = Storage(spec, **settings.storage_options())
                staging = target.with_name(f".{target.name}.partial")
                storage.download_dir("", staging)
                staging.rename(target)
            except ObjectNotFoundError as exc:
                raise ConfigError(f"base model {spec} not found in the store") from exc
            except StorageError as exc:
                raise StoreError(f"cannot download the base model: {exc}") from exc
        return BaseModelRef(spec, str(target.resolve()), "store")
    local = Path(spec).expanduser()
    if local.is_dir():
        if not (local / "config.json").is_file():
            raise ConfigError(f"base model folder {local} has no config.json")
        resolved = str(local.resolve())
        return BaseModelRef(resolved, resolved, "path")
    if spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise ConfigError(
            f"base model {spec!r} is neither an existing folder nor a hub id (owner/name)"
        )
    return BaseModelRef(spec, spec, "hub")


def check_environment(settings: FinetuneSettings) -> None:
    """Fail early and clearly when the machine cannot run the profile."""
    import torch

    if settings.profile == "qlora":
        if not torch.cuda.is_available():
            raise EnvironmentProblem(
                "the qlora profile (4-bit NF4 via bitsandbytes) needs a CUDA GPU and none "
                "is available; run on a GPU node or set FINETUNE_PROFILE=cpu"
            )
        try:
            import bitsandbytes  # noqa: F401
        except ImportError as exc:
            raise EnvironmentProblem(
                "the qlora profile needs bitsandbytes: pip install 'myretail-finetune[gpu]'"
            ) from exc


def _hub_kwargs(settings: FinetuneSettings, ref: BaseModelRef) -> dict[str, Any]:
    """Token and, where the Hub's own cache cannot be written, a cache in ours."""
    if ref.kind != "hub":
        return {}
    kwargs: dict[str, Any] = {}
    if settings.hugging_face_hub_token:
        kwargs["token"] = settings.hugging_face_hub_token.get_secret_value()
    from huggingface_hub import constants

    if not writable_dir(Path(constants.HF_HUB_CACHE)):
        kwargs["cache_dir"] = str(settings.model_cache() / "hub")
    return kwargs


def load_tokenizer(settings: FinetuneSettings, ref: BaseModelRef) -> Any:
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(ref.load_from, **_hub_kwargs(settings, ref))
    except OSError as exc:
        raise ConfigError(f"cannot load the tokenizer of base model {ref.spec}: {exc}") from exc
    if tokenizer.eos_token is None:
        raise ConfigError(f"the tokenizer of base model {ref.spec} has no EOS token")
    if tokenizer.pad_token is None:
        # Llama 3 has no pad token; padded positions are masked out of the loss anyway.
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    settings: FinetuneSettings, ref: BaseModelRef, hp: HyperParameters, local_rank: int = 0
) -> Any:
    """The base model for the profile, wrapped for LoRA when the method is ``lora``.

    Under qlora each training process holds its own 4-bit copy on its GPU (``local_rank``).
    """
    import torch
    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = _hub_kwargs(settings, ref)
    if settings.profile == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs.update(
            quantization_config=BitsAndBytesConfig(
                load_in_4bit=True,
                bnb_4bit_quant_type="nf4",
                bnb_4bit_use_double_quant=True,
                bnb_4bit_compute_dtype=torch.bfloat16,
            ),
            dtype=torch.bfloat16,
            device_map={"": local_rank},
        )
    else:
        kwargs.update(dtype=torch.float32)
    model: Any
    try:
        model = AutoModelForCausalLM.from_pretrained(ref.load_from, **kwargs)
    except OSError as exc:
        raise ConfigError(f"cannot load base model {ref.spec}: {exc}") from exc
    model.config.use_cache = False
    if settings.profile == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=True)
    if settings.method == "lora":
        from peft import LoraConfig, get_peft_model

        with warnings.catch_warnings():
            # peft probes a property transformers 5 marks deprecated; nothing to act on.
            warnings.filterwarnings("ignore", "`is_gradient_checkpointing`", FutureWarning)
            model = get_peft_model(
                model,
                LoraConfig(
                    r=hp.lora_r,
                    lora_alpha=hp.lora_alpha,
                    lora_dropout=hp.lora_dropout,
                    target_modules=hp.lora_target_modules,
                    bias="none",
                    task_type="CAUSAL_LM",
                ),
            )
    return model


def parameter_counts(model: Any) -> dict[str, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"total": total, "trainable": trainable}
