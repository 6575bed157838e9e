"""Settings: environment, YAML file, flags, profile defaults and validation."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from myretail_finetune.config import PROD_BASE_MODEL, load_settings
from myretail_finetune.errors import ConfigError


def test_book_variables_and_profile_defaults(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TRAIN_DATASET_FILE", "s3://bucket/train.jsonl")
    clean_env.setenv("EVAL_DATASET_FILE", "file:///data/val.jsonl")
    clean_env.setenv("MODEL_ASSETS_BUCKET", "assets")
    clean_env.setenv("HUGGING_FACE_HUB_TOKEN", "hf_secret_value")
    clean_env.setenv("FINETUNE_PROFILE", "qlora")
    clean_env.setenv("MODEL_TAG", "v3")
    settings = load_settings()
    assert settings.train_dataset_file == "s3://bucket/train.jsonl"
    assert settings.eval_dataset_file == "file:///data/val.jsonl"
    assert settings.store_uri() == "s3://assets/models"
    assert settings.hugging_face_hub_token is not None
    assert "hf_secret_value" not in repr(settings)
    assert settings.base_model_spec() == PROD_BASE_MODEL
    hp = settings.resolved()
    # The book's production recipe.
    assert (hp.lora_r, hp.lora_alpha, hp.lora_dropout) == (32, 64, 0.05)
    assert hp.lora_target_modules == [
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    ]
    assert hp.optimizer == "paged_adamw_8bit"
    assert hp.gradient_checkpointing is True


def test_precedence_flags_over_env_over_yaml(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "finetune.yaml"
    config.write_text(
        "learning_rate: 0.01\nMAX_STEPS: 7\nmodel_tag: from-yaml\nFINETUNE_METHOD: full\n"
        "lora_target_modules: [q_proj, v_proj]\n"
    )
    clean_env.setenv("FINETUNE_CONFIG", str(config))
    clean_env.setenv("MAX_STEPS", "9")
    settings = load_settings(overrides={"model_tag": "from-flag"})
    assert settings.learning_rate == 0.01  # YAML
    assert settings.max_steps == 9  # environment beats YAML
    assert settings.model_tag == "from-flag"  # flag beats both
    assert settings.method == "full"
    assert settings.resolved().lora_target_modules == ["q_proj", "v_proj"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"LEARNING_RATE": "-1"}, "learning_rate"),
        ({"BATCH_SIZE": "0"}, "batch_size"),
        ({"MAX_STEPS": "many"}, "max_steps"),
        ({"LORA_DROPOUT": "1.5"}, "lora_dropout"),
        ({"MIN_EVAL_ACCURACY": "2"}, "min_eval_accuracy"),
        ({"FINETUNE_PROFILE": "tpu"}, "FINETUNE_PROFILE"),
        ({"FINETUNE_PROFILE": "qlora", "FINETUNE_METHOD": "full"}, "LoRA adapters only"),
        ({"LR_SCHEDULER_TYPE": "zigzag"}, "lr_scheduler_type"),
        ({"MODEL_TAG": "../escape"}, "invalid tag"),
    ],
)
def test_invalid_settings_are_one_clear_error(
    clean_env: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        clean_env.setenv(name, value)
    with pytest.raises(ConfigError, match=message):
        load_settings()


def test_yaml_problems(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.yaml")
    typo = tmp_path / "typo.yaml"
    typo.write_text("learning_rat: 0.1\n")
    with pytest.raises(ConfigError, match="unknown setting 'learning_rat'"):
        load_settings(typo)
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(listing)


def test_required_values(clean_env: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    with pytest.raises(ConfigError, match="MODEL_TAG"):
        settings.tag()
    with pytest.raises(ConfigError, match="BASE_MODEL"):
        settings.base_model_spec()


def test_checkpoints_go_to_an_s3_store_by_default(clean_env: pytest.MonkeyPatch) -> None:
    """A spot retry may run in another zone, where a volume cannot follow: with the store
    on S3, checkpoints live beside the model in the store unless CHECKPOINT_DIR is set."""
    clean_env.setenv("MODEL_ASSETS_BUCKET", "assets")
    clean_env.setenv("MODEL_TAG", "v3")
    settings = load_settings()
    assert settings.checkpoint_location() == "s3://assets/models/loyalty-assistant/.checkpoints/v3"
    clean_env.setenv("CHECKPOINT_DIR", "/checkpoints/run")
    assert load_settings().checkpoint_location() == "/checkpoints/run"
    clean_env.delenv("MODEL_ASSETS_BUCKET")
    clean_env.delenv("CHECKPOINT_DIR")
    local = load_settings().checkpoint_location()
    assert local == str(Path("var") / "checkpoints" / "loyalty-assistant" / "v3")


def test_the_model_cache_is_writable_under_a_read_only_root(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # /sys is read-only even for root: like the working directory of the Job's container.
    clean_env.chdir("/sys")
    clean_env.delenv("HF_HOME", raising=False)
    clean_env.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    assert load_settings().model_cache() == tmp_path / "tmp" / "myretail-model-cache"
    clean_env.setenv("HF_HOME", str(tmp_path / "hf"))  # the chart's cache volume
    assert load_settings().model_cache() == tmp_path / "hf" / "myretail-model-cache"
    clean_env.setenv("MODEL_CACHE_DIR", "/sys/model-cache")
    with pytest.raises(ConfigError, match="MODEL_CACHE_DIR /sys/model-cache is not a writable"):
        load_settings().model_cache()
    clean_env.setenv("MODEL_CACHE_DIR", str(tmp_path / "named"))
    assert load_settings().model_cache() == tmp_path / "named"
