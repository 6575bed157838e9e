"""Loading a published tag: adapter merged, full-weights tags, clear startup errors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import torch

from myretail_common.model_store import ModelStore
from myretail_common.ports import free_port
from myretail_common.storage import Storage
from myretail_inference.cli import main
from myretail_inference.loader import (
    LoadedModel,
    ModelLoadError,
    choose_dtype,
    load_model,
    model_load_kwargs,
)
from myretail_inference.settings import InferenceSettings
from myretail_testkit.inference import make_settings, need_cuda
from myretail_testkit.llama3 import publish_llama3_adapter

pytestmark = pytest.mark.slow


def test_lora_tag_is_merged_and_cached(loaded: LoadedModel, settings: InferenceSettings) -> None:
    from peft import PeftModel

    assert not isinstance(loaded.model, PeftModel)  # merge_and_unload: plain weights
    assert loaded.manifest["method"] == "lora"
    assert loaded.info.context_window == loaded.model.config.max_position_embeddings
    assert loaded.tag_dir.is_relative_to(settings.model_cache_dir)
    assert (loaded.tag_dir / "manifest.json").is_file()


def test_missing_tag_is_a_clear_error(settings: InferenceSettings) -> None:
    missing = settings.model_copy(update={"model_tag": "no-such-tag"})
    with pytest.raises(ModelLoadError) as error:
        load_model(missing)
    message = str(error.value)
    assert "no-such-tag" in message and "not found" in message
    assert settings.model_tag is not None and settings.model_tag in message  # lists what exists


@pytest.mark.usefixtures("restore_logging")
def test_cli_exits_1_on_a_missing_tag(
    published_adapter: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODEL_STORE_URI", published_adapter.store_uri)
    monkeypatch.setenv("MODEL_NAME", published_adapter.model_name)
    monkeypatch.setenv("MODEL_TAG", "v-missing")
    assert main(["--port", str(free_port())]) == 1
    assert "v-missing" in capsys.readouterr().err


def test_nf4_needs_cuda(settings: InferenceSettings) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ModelLoadError, match="CUDA"):
        load_model(settings.model_copy(update={"quantization": "nf4"}))


def test_bad_base_model_override_is_a_clear_error(settings: InferenceSettings) -> None:
    with pytest.raises(ModelLoadError, match="base model"):
        load_model(settings.model_copy(update={"base_model": "/nonexistent/base"}))


def test_full_weights_tag_serves_the_same_model(
    loaded: LoadedModel, tmp_path: Path, settings: InferenceSettings
) -> None:
    folder = tmp_path / "full"
    loaded.model.save_pretrained(folder)
    loaded.tokenizer.save_pretrained(folder)
    store_uri = f"file://{tmp_path / 'store'}"
    ModelStore(Storage(store_uri)).publish(
        folder, "full-model", "v1", {"method": "full", "base_model": "merged"}
    )
    full = load_model(
        make_settings(
            type("P", (), {"store_uri": store_uri, "model_name": "full-model", "tag": "v1"})(),
            tmp_path / "cache",
        )
    )
    ids = loaded.tokenizer("What are the MyElite tiers?", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        assert torch.equal(loaded.model(ids).logits, full.model(ids).logits)


def test_console_script_serves_and_reports_ready(published_adapter: Any, tmp_path: Path) -> None:
    """``myretail-inference`` loads the tag at startup and flips /readyz after warm-up."""
    port = free_port()
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "MODEL_STORE_URI": published_adapter.store_uri,
        "MODEL_NAME": published_adapter.model_name,
        "MODEL_TAG": published_adapter.tag,
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "myretail_inference"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        ready = None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                ready = httpx.get(f"{url}/readyz", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        assert ready is not None and ready.status_code == 200, "server never became ready"
        answer = httpx.post(f"{url}/generate", json={"prompt": "Tiers?", "max_new_tokens": 4})
        assert answer.status_code == 200
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    assert process.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM
    lines = [json.loads(line) for line in output.decode().splitlines() if line.startswith("{")]
    assert any(line["message"] == "engine warmed up" for line in lines)


# -- precision and placement -------------------------------------------------------------


@pytest.mark.parametrize(
    ("declared", "expected"),
    [("bfloat16", torch.bfloat16), ("float16", torch.bfloat16), ("float32", torch.float32)],
)
def test_on_cpu_the_checkpoint_precision_is_kept_never_widened_to_fp32(
    declared: str, expected: torch.dtype
) -> None:
    settings = InferenceSettings(model_tag="v1")
    assert choose_dtype(settings, "cpu", declared) == expected
    assert choose_dtype(settings, "cpu", None) == torch.float32  # nothing declared: fp32
    explicit = settings.model_copy(update={"dtype": "float32"})
    assert choose_dtype(explicit, "cpu", "bfloat16") == torch.float32  # asked for


def test_on_cuda_bf16_by_default_straight_onto_the_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = InferenceSettings(model_tag="v1")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: True)
    for declared in ("float32", "bfloat16", None):  # an fp32 checkpoint too: not at 4 bytes
        kwargs = model_load_kwargs(settings, "cuda", declared, None)
        assert kwargs["dtype"] == torch.bfloat16
        assert kwargs["device_map"] == {"": "cuda"}  # no copy in host memory first
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    assert model_load_kwargs(settings, "cuda", "float32", None)["dtype"] == torch.float16
    assert "device_map" not in model_load_kwargs(settings, "cpu", "float32", None)


def test_a_bf16_checkpoint_is_served_in_bf16_by_default(tmp_path: Path) -> None:
    """Llama 3 8B's checkpoint is bf16: served at 2 bytes a weight, not 4, by default."""
    published = publish_llama3_adapter(tmp_path / "store")
    loaded = load_model(make_settings(published, tmp_path / "cache"))
    assert loaded.model.get_input_embeddings().weight.dtype == torch.bfloat16
    assert loaded.model.dtype == torch.bfloat16


def test_on_cuda_the_model_is_loaded_straight_to_the_gpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    need_cuda()
    published = publish_llama3_adapter(tmp_path / "store")
    from transformers import AutoModelForCausalLM

    calls: list[dict[str, Any]] = []
    original = AutoModelForCausalLM.from_pretrained

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return original(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    loaded = load_model(make_settings(published, tmp_path / "cache", device="cuda"))
    assert calls and calls[0]["device_map"] == {"": "cuda"}
    assert calls[0]["dtype"] == torch.bfloat16
    assert loaded.info.device == "cuda"
    assert all(p.device.type == "cuda" for p in loaded.model.parameters())
    assert loaded.model.dtype == torch.bfloat16
