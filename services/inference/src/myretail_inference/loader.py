"""Load the served model: a published tag from the model store plus its base model.

``<store>/<MODEL_NAME>/<MODEL_TAG>/`` holds a PEFT adapter (``method: lora``) or complete
weights (``method: full``), tokenizer files and ``manifest.json``. The tag is fetched into
``MODEL_CACHE_DIR`` (reused when it matches the manifest); the base model named by the
manifest, or by ``BASE_MODEL``, is a local folder, a store URI (``file://``, ``s3://``,
fetched into the cache too) or a hub id. On CUDA the base loads in 4-bit NF4
(bitsandbytes) or bf16 — never fp32 by default — straight onto the GPU (no copy in host
memory first); on the CPU in the checkpoint's own precision (bf16 for a bf16 checkpoint
such as Llama 3 8B, fp32 only for an fp32 one). When not 4-bit the LoRA weights are
merged into the base so serving costs no adapter overhead.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from myretail_common.cpus import available_cpus
from myretail_common.logs import register_secret
from myretail_common.model_store import MANIFEST_NAME, ModelStore
from myretail_common.storage import Storage, StorageError
from myretail_inference.engine_api import ModelInfo
from myretail_inference.settings import InferenceSettings

logger = logging.getLogger(__name__)

_BASE_MARKER = ".myretail-complete"


class ModelLoadError(RuntimeError):
    """The model cannot be loaded; the message says why and what to change."""


@dataclass
class LoadedModel:
    model: Any
    tokenizer: Any
    info: ModelInfo
    tag_dir: Path
    manifest: dict[str, Any]


def resolve_device(setting: str) -> str:
    import torch

    if setting == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("DEVICE=cuda but no CUDA GPU is available")
    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return setting


def configure_cpu_threads(settings: InferenceSettings) -> int | None:
    """Size torch's CPU thread pool for serving (a process-wide setting; CPU only).

    ``TORCH_THREADS=0`` leaves one core to the HTTP event loop and gives the model the
    rest. On a busy two-core machine this matters a lot: two intra-op threads that wait
    for each other on every small operation are several times slower than one.
    Returns the thread count set, or None when the model runs on a GPU.
    """
    import torch

    if resolve_device(settings.device) != "cpu":
        return None
    threads = settings.torch_threads or max(1, available_cpus() - 1)
    torch.set_num_threads(threads)
    logger.info("cpu threads configured", extra={"torch_threads": threads})
    return threads


def checkpoint_dtype(source: str | Path, token: str | None = None) -> str | None:
    """The dtype a checkpoint's config.json declares ("bfloat16", ...), if any."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(source, token=token)
    dtype = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    return str(dtype).removeprefix("torch.") if dtype is not None else None


def choose_dtype(settings: InferenceSettings, device: str, declared: str | None) -> Any:
    """The weights' dtype (not 4-bit): fp32 only on request or for an fp32 checkpoint on
    the CPU, so a large model is never loaded at twice its size by default."""
    import torch

    if settings.quantization in ("bf16", "nf4"):
        return torch.bfloat16
    if settings.dtype != "auto":
        return getattr(torch, settings.dtype)
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if declared in (None, "float32"):
        return torch.float32
    return torch.bfloat16  # half-precision checkpoints: bf16 is the CPU's fast half type


def model_load_kwargs(
    settings: InferenceSettings, device: str, declared: str | None, token: str | None
) -> dict[str, Any]:
    """``from_pretrained`` arguments: dtype, quantization, and the device to load onto."""
    import torch

    kwargs: dict[str, Any] = {"token": token, "dtype": choose_dtype(settings, device, declared)}
    if settings.quantization == "nf4":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        )
        kwargs["device_map"] = {"": 0}
    elif device == "cuda":
        kwargs["device_map"] = {"": device}  # weights go straight to the GPU
    return kwargs


def fetch_tag(settings: InferenceSettings) -> tuple[Path, dict[str, Any]]:
    """Download (or reuse from the cache) the tag to serve; returns (folder, manifest)."""
    if not settings.model_tag:
        raise ModelLoadError("MODEL_TAG is not set: name the published model tag to serve")
    store = ModelStore.from_settings(settings)
    logger.info(
        "fetching model tag",
        extra={
            "model": settings.model_name,
            "tag": settings.model_tag,
            "store": store.tag_uri(settings.model_name, settings.model_tag),
        },
    )
    try:
        folder = store.fetch(settings.model_name, settings.model_tag, settings.model_cache_dir)
    except (StorageError, ValueError) as exc:  # TagNotFoundError names the published tags
        raise ModelLoadError(str(exc)) from exc
    manifest: dict[str, Any] = json.loads((folder / MANIFEST_NAME).read_text())
    return folder, manifest


def resolve_base_model(base: str, settings: InferenceSettings) -> str:
    """A local folder for store URIs and paths; hub ids are returned unchanged."""
    if "://" in base:
        scheme = base.split("://", 1)[0]
        if scheme in ("file", "local"):
            path = Path(base.split("://", 1)[1]).expanduser()
            if not path.is_dir():
                raise ModelLoadError(f"base model folder {base} does not exist")
            return str(path)
        return str(_fetch_folder(base, settings))
    path = Path(base).expanduser()
    if path.is_dir():
        return str(path)
    if base.startswith((".", "/", "~")) or base.count("/") != 1:
        raise ModelLoadError(
            f"base model {base!r} is neither a local folder, a store URI nor a hub id "
            "(owner/name); set BASE_MODEL or publish the tag with its base"
        )
    return base  # a hub id: from_pretrained downloads (or finds it in the HF cache)


def _fetch_folder(uri: str, settings: InferenceSettings) -> Path:
    """Download the folder at ``uri`` into the cache once (marked complete when done)."""
    digest = hashlib.sha256(uri.encode()).hexdigest()[:16]
    target = settings.model_cache_dir / "base-models" / digest
    if (target / _BASE_MARKER).is_file():
        return target
    staging = target.parent / f".download-{digest}-{uuid.uuid4().hex}"
    logger.info("downloading base model", extra={"source": uri})
    try:
        Storage(uri, **settings.storage_options()).download_dir("", staging)
        (staging / _BASE_MARKER).write_text(uri)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except (StorageError, ValueError) as exc:
        raise ModelLoadError(f"cannot fetch base model {uri}: {exc}") from exc
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def load_tokenizer(settings: InferenceSettings) -> tuple[Any, ModelInfo]:
    """ENGINE=remote: the tag's tokenizer and the model's context window, no weights.

    The tokenizer comes from the tag (or its base model); the context window from the
    base model's ``config.json`` alone (for a base in an ``s3://`` store only that file
    is downloaded). The gateway counts tokens with it; the upstream holds the model.
    """
    from transformers import AutoConfig, AutoTokenizer

    token = _hub_token(settings)
    tag_dir, manifest = fetch_tag(settings)
    method = str(manifest.get("method", "lora"))
    base_name = settings.base_model or str(manifest.get("base_model") or "")
    try:
        config_source = str(tag_dir) if method == "full" else _config_source(base_name, settings)
        tokenizer_source = (
            tag_dir if _has_tokenizer(tag_dir) else resolve_base_model(base_name, settings)
        )
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, token=token)
        config = AutoConfig.from_pretrained(config_source, token=token).get_text_config()
    except ModelLoadError:
        raise
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load the tokenizer of {settings.model_name}:{settings.model_tag} "
            f"(base model {base_name or 'n/a'}): {exc}"
        ) from exc
    info = ModelInfo(
        name=settings.model_name,
        tag=settings.model_tag or "",
        context_window=int(getattr(config, "max_position_embeddings", 0) or 2048),
        base_model=base_name,
        method=method,
        quantization=settings.quantization,
        device="remote",
    )
    logger.info(
        "tokenizer loaded",
        extra={"model": info.name, "tag": info.tag, "context_window": info.context_window},
    )
    return tokenizer, info


def _config_source(base: str, settings: InferenceSettings) -> str:
    """Where the base model's ``config.json`` is: a folder, or a hub id (config only)."""
    if not base:
        raise ModelLoadError(
            f"the manifest of {settings.model_name}:{settings.model_tag} names no base "
            "model; set BASE_MODEL"
        )
    scheme = base.split("://", 1)[0] if "://" in base else ""
    if scheme in ("", "file", "local"):
        return resolve_base_model(base, settings)
    digest = hashlib.sha256(base.encode()).hexdigest()[:16]
    folder = settings.model_cache_dir / "base-configs" / digest
    try:
        Storage(base, **settings.storage_options()).download_files("", ["config.json"], folder)
    except (StorageError, ValueError) as exc:
        raise ModelLoadError(f"cannot fetch the config of base model {base}: {exc}") from exc
    return str(folder)


def _hub_token(settings: InferenceSettings) -> str | None:
    if not settings.hugging_face_hub_token:
        return None
    token = settings.hugging_face_hub_token.get_secret_value()
    register_secret(token)
    return token


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("tokenizer.json", "tokenizer_config.json"))


def load_model(settings: InferenceSettings) -> LoadedModel:
    """Fetch the tag and load base + adapter (merged unless 4-bit) and the tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    started = time.monotonic()
    device = resolve_device(settings.device)
    quantization = settings.quantization
    if quantization == "nf4" and device != "cuda":
        raise ModelLoadError(
            "QUANTIZATION=nf4 needs a CUDA GPU (bitsandbytes 4-bit); use QUANTIZATION=none on CPU"
        )
    token = _hub_token(settings)
    tag_dir, manifest = fetch_tag(settings)
    method = str(manifest.get("method", "lora"))
    if method not in ("lora", "full"):
        raise ModelLoadError(
            f"manifest of {settings.model_name}:{settings.model_tag} has "
            f"unknown method {method!r} (expected 'lora' or 'full')"
        )

    base_name = ""
    model: Any
    try:
        if method == "full":
            logger.info("loading full model", extra={"path": str(tag_dir)})
            kwargs = model_load_kwargs(settings, device, checkpoint_dtype(tag_dir), token)
            model = AutoModelForCausalLM.from_pretrained(tag_dir, **kwargs)
            base_name = str(manifest.get("base_model", ""))
        else:
            base_name = settings.base_model or str(manifest.get("base_model") or "")
            if not base_name:
                raise ModelLoadError(
                    f"the manifest of {settings.model_name}:{settings.model_tag} names no base "
                    "model; set BASE_MODEL"
                )
            base_path = resolve_base_model(base_name, settings)
            logger.info("loading base model", extra={"base_model": base_name})
            declared = checkpoint_dtype(base_path, token)
            kwargs = model_load_kwargs(settings, device, declared, token)
            model = AutoModelForCausalLM.from_pretrained(base_path, **kwargs)
            from peft import PeftModel

            logger.info("applying adapter", extra={"path": str(tag_dir)})
            model = PeftModel.from_pretrained(model, tag_dir)
            if quantization != "nf4" and settings.merge_adapter:
                model = model.merge_and_unload()
        tokenizer_source = (
            tag_dir if _has_tokenizer(tag_dir) else resolve_base_model(base_name, settings)
        )
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, token=token)
    except ModelLoadError:
        raise
    except (OSError, ValueError) as exc:
        raise ModelLoadError(
            f"cannot load {settings.model_name}:{settings.model_tag} "
            f"(base model {base_name or 'n/a'}): {exc}"
        ) from exc

    if "device_map" not in kwargs:
        model = model.to(device)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    config = model.config.get_text_config()
    context_window = int(getattr(config, "max_position_embeddings", 0) or 2048)
    info = ModelInfo(
        name=settings.model_name,
        tag=settings.model_tag or "",
        context_window=context_window,
        base_model=base_name,
        method=method,
        quantization=quantization,
        device=device,
    )
    logger.info(
        "model loaded",
        extra={
            "model": info.name,
            "tag": info.tag,
            "method": method,
            "quantization": quantization,
            "dtype": str(kwargs["dtype"]).removeprefix("torch."),
            "device": device,
            "context_window": context_window,
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    return LoadedModel(model, tokenizer, info, tag_dir, manifest)
