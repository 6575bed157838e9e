"""Settings of the inference service (environment variables listed in docs/contracts.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from myretail_common.settings import ServiceSettings

Engine = Literal["native", "remote"]
Quantization = Literal["none", "nf4", "bf16"]
Device = Literal["auto", "cpu", "cuda"]
Dtype = Literal["auto", "bfloat16", "float16", "float32"]


class InferenceSettings(ServiceSettings):
    """Everything ``myretail-inference`` reads from the environment."""

    port: int = Field(default=8000, ge=1, le=65535)

    engine: Engine = Field(
        default="native",
        description="native: our continuous-batching engine in this process; remote: a "
        "gateway to an OpenAI-compatible server (vLLM) at UPSTREAM_BASE_URL",
    )
    upstream_base_url: str = Field(
        default="",
        max_length=2048,
        description="ENGINE=remote: the upstream's OpenAI API base, e.g. "
        "http://127.0.0.1:8001/v1 (its /health is at the server root)",
    )
    upstream_timeout_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="ENGINE=remote: most seconds to connect to the upstream, or to wait for "
        "its next bytes; the whole request stays within REQUEST_TIMEOUT_SECONDS",
    )
    canary_tag: str = Field(
        default="",
        max_length=128,
        description="A second published tag served to CANARY_WEIGHT percent of sessions "
        "(empty: none)",
    )
    canary_weight: int = Field(
        default=0, ge=0, le=100, description="Percent of sessions the canary tag answers"
    )
    drain_seconds: float = Field(
        default=30.0,
        ge=0,
        le=3600,
        description="On SIGTERM: readiness fails and new requests get 503 at once; requests "
        "in flight may finish for up to this long, then the process exits",
    )

    model_name: str = Field(
        default="loyalty-assistant", description="Published model to serve (MODEL_NAME)"
    )
    model_tag: str | None = Field(
        default=None, description="Published tag to serve (MODEL_TAG); required to serve"
    )
    base_model: str | None = Field(
        default=None,
        description="Overrides the manifest's base model: local path, store URI or hub id",
    )
    model_cache_dir: Path = Field(
        default=Path("./var/model-cache"),
        description="Local cache of downloaded model files (the pod's model-cache volume)",
    )
    hugging_face_hub_token: SecretStr | None = Field(
        default=None, description="Hub token, only when the base model comes from the hub"
    )
    quantization: Quantization = Field(
        default="none",
        description="none (full precision, LoRA merged), nf4 (4-bit, CUDA) or bf16",
    )
    device: Device = Field(default="auto", description="auto: CUDA when available, else CPU")
    dtype: Dtype = Field(
        default="auto",
        description="Weights' dtype when not 4-bit. auto: bf16 on CUDA (fp16 where the GPU "
        "has no bf16), on CPU the checkpoint's own (fp32 only for fp32 checkpoints)",
    )
    torch_threads: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="CPU threads for the model on CPU; 0: every usable CPU but one (the loop's)",
    )
    merge_adapter: bool = Field(
        default=True, description="Merge LoRA weights into the base when not 4-bit quantized"
    )

    max_batch_size: int = Field(
        default=16, ge=1, le=1024, description="Most sequences sharing a forward pass"
    )
    max_queue_size: int = Field(
        default=64, ge=0, le=100_000, description="Most requests waiting for a batch slot"
    )
    request_timeout_seconds: float = Field(
        default=120.0, gt=0, le=3600, description="Deadline of a request, queue time included"
    )
    max_prefill_tokens: int = Field(
        default=2048,
        ge=16,
        le=1_000_000,
        description="Prompt tokens per prefill pass (padding included); longer prompts are "
        "prefilled in chunks between decode steps",
    )
    kv_cache_tokens: int = Field(
        default=0,
        ge=0,
        description="KV-cache budget in tokens (padding included); 0: measured from free GPU "
        "memory after warm-up on CUDA, 32768 on CPU. Requests wait while it is full",
    )
    gpu_memory_utilization: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Share of the GPU memory free after warm-up that the KV cache may use",
    )
    default_max_new_tokens: int = Field(
        default=256, ge=1, description="New tokens when a request names no limit"
    )
    max_new_tokens_limit: int = Field(
        default=1024, ge=1, description="Most new tokens a request may ask for"
    )

    @property
    def tags(self) -> list[str]:
        """The served tags: MODEL_TAG, then CANARY_TAG when one is set and differs."""
        tags = [self.model_tag] if self.model_tag else []
        if self.canary_tag and self.canary_tag not in tags:
            tags.append(self.canary_tag)
        return tags

    @model_validator(mode="after")
    def _remote_needs_an_upstream(self) -> InferenceSettings:
        if self.engine == "remote" and not self.upstream_base_url:
            raise ValueError(
                "ENGINE=remote needs UPSTREAM_BASE_URL (e.g. http://127.0.0.1:8001/v1)"
            )
        if self.upstream_base_url and not self.upstream_base_url.startswith(
            ("http://", "https://")
        ):
            raise ValueError("UPSTREAM_BASE_URL must be an http:// or https:// URL")
        return self

    @model_validator(mode="after")
    def _default_within_limit(self) -> InferenceSettings:
        if self.default_max_new_tokens > self.max_new_tokens_limit:
            raise ValueError(
                "DEFAULT_MAX_NEW_TOKENS must not exceed MAX_NEW_TOKENS_LIMIT "
                f"({self.default_max_new_tokens} > {self.max_new_tokens_limit})"
            )
        return self
