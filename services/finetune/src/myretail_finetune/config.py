"""Settings of the fine-tune Job: environment variables, an optional YAML file, CLI flags.

Precedence, highest first: command-line flags, environment variables, the YAML file
(``--config FILE`` or ``FINETUNE_CONFIG``), profile defaults, built-in defaults. Variable
names are the ones in docs/contracts.md; the book's ``TRAIN_DATASET_FILE``,
``EVAL_DATASET_FILE``, ``MODEL_ASSETS_BUCKET`` and ``HUGGING_FACE_HUB_TOKEN`` keep working.
YAML keys are the field names below (``learning_rate: 2e-4``) or the variable names.

Hyper-parameters left unset take the defaults of the chosen profile and method
(:data:`PROFILE_DEFAULTS`); :meth:`FinetuneSettings.resolved` returns them filled in.

The Job runs in a container with a read-only root filesystem: every place it writes is
either named (``MODEL_CACHE_DIR``, ``CHECKPOINT_DIR``) and checked at start, or chosen
among writable ones (:meth:`FinetuneSettings.model_cache`). With the model store on S3,
checkpoints go to the store too unless ``CHECKPOINT_DIR`` says otherwise, so a retry of
a spot-reclaimed pod resumes in any availability zone.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, SecretStr, ValidationError, model_validator

from myretail_common.model_store import validate_name
from myretail_common.settings import CommonSettings
from myretail_finetune.errors import ConfigError

Profile = Literal["cpu", "qlora"]
Method = Literal["lora", "full"]

PROD_BASE_MODEL = "meta-llama/Meta-Llama-3-8B"
# The repetition penalty POST /generate answers with (the inference service's default):
# the accuracy gate generates with it so that it measures what is served.
SERVING_REPETITION_PENALTY = 1.15
# Where checkpoints go inside a model's folder of the store (never a valid tag name).
STORE_CHECKPOINTS = ".checkpoints"
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(frozen=True)
class HyperParameters:
    """Hyper-parameters with every value decided (profile defaults applied)."""

    learning_rate: float
    max_steps: int | None
    num_train_epochs: float
    batch_size: int
    gradient_accumulation_steps: int
    lr_scheduler_type: str
    warmup_ratio: float
    weight_decay: float
    max_seq_length: int
    lora_r: int
    lora_alpha: int
    lora_dropout: float
    lora_target_modules: list[str]
    optimizer: str
    gradient_checkpointing: bool
    seed: int
    logging_steps: int
    eval_batch_size: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# Defaults per (profile, method). The qlora profile is the book's production recipe;
# the cpu ones are measured on the tiny base (README "Measured figures").
_QLORA_LORA: dict[str, Any] = {
    "learning_rate": 2e-4,
    "max_steps": None,
    "num_train_epochs": 3.0,
    "batch_size": 4,
    "gradient_accumulation_steps": 4,
    "lr_scheduler_type": "cosine",
    "warmup_ratio": 0.03,
    "lora_r": 32,
    "lora_alpha": 64,
    "lora_dropout": 0.05,
    "optimizer": "paged_adamw_8bit",
    "gradient_checkpointing": True,
    "max_seq_length": 512,
    # Loss evaluation upcasts logits to fp32: 4 x 512 tokens x 128256 (Llama 3's vocabulary)
    # x 4 bytes is 1 GiB, beside the 8B model on a 24 GB GPU.
    "eval_batch_size": 4,
}
_CPU_LORA: dict[str, Any] = {
    "learning_rate": 3e-3,
    "max_steps": 400,
    "num_train_epochs": 1.0,
    "batch_size": 8,
    "gradient_accumulation_steps": 1,
    "lr_scheduler_type": "linear",
    "warmup_ratio": 0.05,
    "lora_r": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "optimizer": "adamw_torch",
    "gradient_checkpointing": False,
    "max_seq_length": 256,
    "eval_batch_size": 32,
}
PROFILE_DEFAULTS: dict[tuple[str, str], dict[str, Any]] = {
    ("qlora", "lora"): _QLORA_LORA,
    ("cpu", "lora"): _CPU_LORA,
    # Full fine-tuning of the tiny base: a lower rate and half the steps converge.
    ("cpu", "full"): {**_CPU_LORA, "learning_rate": 1e-3, "max_steps": 200, "lora_dropout": 0.0},
}


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class FinetuneSettings(CommonSettings):
    """Everything the Job reads from its environment (see README's configuration table)."""

    # -- data and models ------------------------------------------------------------------
    train_dataset_file: str = Field(
        default="data/loyalty_qa_train.jsonl",
        description="JSONL {prompt, response[, key_fact]}: path, file:// or s3:// URI",
    )
    eval_dataset_file: str = Field(
        default="data/loyalty_qa_val.jsonl", description="validation JSONL, same format"
    )
    base_model: str | None = Field(
        default=None,
        description="local path, store URI or hub id (qlora default: Meta-Llama-3-8B)",
    )
    hugging_face_hub_token: SecretStr | None = Field(
        default=None, validation_alias=_env("HUGGING_FACE_HUB_TOKEN", "HF_TOKEN")
    )
    model_name: str = Field(default="loyalty-assistant", description="published model name")
    model_tag: str | None = Field(default=None, description="published tag (required)")
    model_cache_dir: str | None = Field(
        default=None,
        description="local copy of a base model from the store; default: ./var/model-cache, "
        "else $HF_HOME/myretail-model-cache, else the temporary folder (first writable)",
    )
    force_publish: bool = Field(default=False, description="overwrite an existing tag")

    # -- profile --------------------------------------------------------------------------
    profile: Profile = Field(default="cpu", validation_alias=_env("FINETUNE_PROFILE", "profile"))
    method: Method = Field(default="lora", validation_alias=_env("FINETUNE_METHOD", "method"))

    # -- hyper-parameters (None: the profile's default) -------------------------------------
    learning_rate: float | None = Field(default=None, gt=0, le=1)
    max_steps: int | None = Field(default=None, ge=1)
    num_train_epochs: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, ge=1, le=4096)
    gradient_accumulation_steps: int | None = Field(default=None, ge=1)
    lr_scheduler_type: str | None = None
    warmup_ratio: float | None = Field(default=None, ge=0, lt=1)
    weight_decay: float = Field(default=0.0, ge=0)
    max_seq_length: int | None = Field(default=None, ge=16)
    lora_r: int | None = Field(default=None, ge=1)
    lora_alpha: int | None = Field(default=None, ge=1)
    lora_dropout: float | None = Field(default=None, ge=0, lt=1)
    lora_target_modules: list[str] | None = None
    optimizer: str | None = None
    gradient_checkpointing: bool | None = None
    seed: int = Field(default=42, ge=0)
    cpu_threads: int | None = Field(
        default=None, ge=1, description="torch threads for the cpu profile (default: torch's)"
    )
    logging_steps: int = Field(default=10, ge=1)

    # -- checkpoints ----------------------------------------------------------------------
    checkpoint_dir: str | None = Field(
        default=None, description="PVC path or store URI; default ./var/checkpoints/<model>/<tag>"
    )
    checkpoint_steps: int = Field(default=50, ge=1)
    checkpoint_grace_seconds: float = Field(default=25.0, gt=0)
    checkpoints_to_keep: int = Field(default=2, ge=1)

    # -- evaluation -----------------------------------------------------------------------
    min_eval_accuracy: float | None = Field(default=None, ge=0, le=1)
    eval_before_training: bool = True
    eval_train_accuracy: bool = True
    eval_batch_size: int | None = Field(default=None, ge=1)
    eval_repetition_penalty: float = Field(
        default=SERVING_REPETITION_PENALTY,
        gt=0,
        description="repetition penalty of the accuracy gate's answers (the served one)",
    )
    eval_max_new_tokens: int = Field(default=48, ge=1)
    eval_max_examples: int | None = Field(default=None, ge=1)

    # -- output ---------------------------------------------------------------------------
    metrics_file: str | None = Field(default=None, description="JSON lines of every metric")

    @model_validator(mode="after")
    def _check(self) -> FinetuneSettings:
        if self.profile == "qlora" and self.method == "full":
            raise ValueError("the qlora profile trains LoRA adapters only: use method 'lora'")
        if self.lr_scheduler_type is not None and self.lr_scheduler_type not in SCHEDULERS:
            raise ValueError(f"lr_scheduler_type must be one of {', '.join(SCHEDULERS)}")
        validate_name("model name", self.model_name)
        if self.model_tag is not None:
            validate_name("tag", self.model_tag)
        return self

    def resolved(self) -> HyperParameters:
        """Hyper-parameters with the profile's defaults filled in."""
        defaults = PROFILE_DEFAULTS[(self.profile, self.method)]

        def pick(name: str) -> Any:
            value = getattr(self, name)
            return defaults[name] if value is None else value

        max_steps = pick("max_steps") if self.num_train_epochs is None else self.max_steps
        return HyperParameters(
            learning_rate=pick("learning_rate"),
            max_steps=max_steps,
            num_train_epochs=pick("num_train_epochs"),
            batch_size=pick("batch_size"),
            gradient_accumulation_steps=pick("gradient_accumulation_steps"),
            lr_scheduler_type=pick("lr_scheduler_type"),
            warmup_ratio=pick("warmup_ratio"),
            weight_decay=self.weight_decay,
            max_seq_length=pick("max_seq_length"),
            lora_r=pick("lora_r"),
            lora_alpha=pick("lora_alpha"),
            lora_dropout=pick("lora_dropout"),
            lora_target_modules=list(self.lora_target_modules or ALL_LINEAR),
            optimizer=pick("optimizer"),
            gradient_checkpointing=pick("gradient_checkpointing"),
            seed=self.seed,
            logging_steps=self.logging_steps,
            eval_batch_size=pick("eval_batch_size"),
        )

    def base_model_spec(self) -> str:
        """The base model to fine-tune; the qlora profile defaults to Llama 3 8B."""
        if self.base_model:
            return self.base_model
        if self.profile == "qlora":
            return PROD_BASE_MODEL
        raise ConfigError(
            "no base model: set BASE_MODEL to a local folder, a store URI or a hub id "
            "(build a tiny local one with: myretail-finetune make-tiny-base --out DIR)"
        )

    def tag(self) -> str:
        if not self.model_tag:
            raise ConfigError("no output tag: set MODEL_TAG (e.g. v1); tags are immutable")
        return self.model_tag

    def checkpoint_location(self) -> str:
        """CHECKPOINT_DIR; else beside the model in an S3 store (a retry may run in another
        zone, where a volume would not follow); else a local folder."""
        if self.checkpoint_dir:
            return self.checkpoint_dir
        store = self.store_uri().rstrip("/")
        if store.startswith(("s3://", "s3a://")):
            return f"{store}/{self.model_name}/{STORE_CHECKPOINTS}/{self.tag()}"
        return str(Path("var") / "checkpoints" / self.model_name / self.tag())

    def model_cache(self) -> Path:
        """A writable folder for downloaded base models (see ``model_cache_dir``)."""
        if self.model_cache_dir:
            folder = Path(self.model_cache_dir)
            if not writable_dir(folder):
                raise ConfigError(f"MODEL_CACHE_DIR {folder} is not a writable folder")
            return folder
        candidates = [Path("var") / "model-cache"]
        if os.environ.get("HF_HOME"):
            candidates.append(Path(os.environ["HF_HOME"]) / "myretail-model-cache")
        candidates.append(Path(tempfile.gettempdir()) / "myretail-model-cache")
        for folder in candidates:
            if writable_dir(folder):
                return folder
        raise ConfigError(
            "no writable folder for the model cache (the root filesystem is read-only?): "
            "set MODEL_CACHE_DIR to a mounted volume"
        )


def writable_dir(folder: Path) -> bool:
    """True when ``folder`` exists or can be created, and a file can be written in it."""
    probe = folder / f".write-probe-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError:
        return False
    return True


SCHEDULERS = (
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
    "constant",
    "constant_with_warmup",
)

_FIELD_BY_ALIAS: dict[str, str] = {}


def _field_names() -> dict[str, str]:
    """Accepted YAML keys (field names and variable names, any case) -> field name."""
    if not _FIELD_BY_ALIAS:
        for name, field in FinetuneSettings.model_fields.items():
            _FIELD_BY_ALIAS[name.lower()] = name
            alias = field.validation_alias
            if isinstance(alias, AliasChoices):
                for choice in alias.choices:
                    if isinstance(choice, str):
                        _FIELD_BY_ALIAS[choice.lower()] = name
    return _FIELD_BY_ALIAS


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Settings from a YAML mapping; unknown keys are an error (typos must not pass)."""
    file = Path(path)
    if not file.is_file():
        raise ConfigError(f"configuration file {file} does not exist")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {file} is not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"configuration file {file} must hold a mapping of settings")
    known = _field_names()
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = known.get(str(key).lower().replace("-", "_"))
        if name is None:
            raise ConfigError(f"configuration file {file}: unknown setting {key!r}")
        values[name] = value
    return values


def _describe(error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        location = ".".join(str(part) for part in item.get("loc", ())) or "settings"
        message = str(item.get("msg", "invalid")).removeprefix("Value error, ")
        problems.append(f"{location}: {message}" if location != "settings" else message)
    return "invalid settings: " + "; ".join(problems)


def load_settings(
    config_file: str | Path | None = None, overrides: dict[str, Any] | None = None
) -> FinetuneSettings:
    """Build the settings from flags (``overrides``), environment and YAML file."""
    config_file = config_file or os.environ.get("FINETUNE_CONFIG")
    from_file = read_config_file(config_file) if config_file else {}
    try:
        from_env = FinetuneSettings()
        env_set = {name: getattr(from_env, name) for name in from_env.model_fields_set}
        merged = {**from_file, **env_set, **(overrides or {})}
        return FinetuneSettings(**merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from exc
    except ValueError as exc:  # validate_name and friends
        raise ConfigError(str(exc)) from exc
