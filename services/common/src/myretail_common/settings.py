"""Typed settings shared by every service (pydantic-settings, read from the environment).

Each service subclasses :class:`ServiceSettings` (HTTP services) or
:class:`CommonSettings` (jobs and CLIs) and adds its own fields. Variable names are the
ones listed in docs/contracts.md; the book's names keep working.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STORE_URI = "file://./var/model-store"


class CommonSettings(BaseSettings):
    """Logging and model-store settings every process needs."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", populate_by_name=True)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "text"] = "json"

    model_store_uri: str | None = Field(
        default=None, description="Root of the model store: file:///… or s3://bucket/prefix"
    )
    model_assets_bucket: str | None = Field(
        default=None, description="Seed name: when MODEL_STORE_URI is unset, s3://<bucket>/models"
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="Custom S3 endpoint for S3-compatible stores"
    )
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None

    def store_uri(self) -> str:
        """The model-store root this process uses."""
        if self.model_store_uri:
            return self.model_store_uri
        if self.model_assets_bucket:
            return f"s3://{self.model_assets_bucket}/models"
        return DEFAULT_STORE_URI

    def storage_options(self) -> dict[str, object]:
        """fsspec options for the store (only what is set; the AWS chain does the rest)."""
        options: dict[str, object] = {}
        if self.s3_endpoint_url:
            options["endpoint_url"] = self.s3_endpoint_url
        if self.aws_access_key_id and self.aws_secret_access_key:
            options["key"] = self.aws_access_key_id.get_secret_value()
            options["secret"] = self.aws_secret_access_key.get_secret_value()
        return options


class ServiceSettings(CommonSettings):
    """Settings of an HTTP service: the listen address, and what the public port shows."""

    host: str = "0.0.0.0"  # noqa: S104 - services listen on the pod's interfaces
    port: int = Field(default=8000, ge=1, le=65535)
    max_request_bytes: int = Field(
        default=1024 * 1024,
        ge=1024,
        le=1024 * 1024 * 1024,
        description="Largest request body; a larger one is answered 413 before it is parsed",
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve /metrics on this port instead of the service's own (unset: same port)",
    )
    public_api_docs: bool = Field(
        default=True, description="Serve /docs, /redoc and /openapi.json on the service's port"
    )


def describe_invalid_settings(error: ValidationError) -> str:
    """What is wrong with the settings, by variable name, without the values given (a value
    may be a secret: pydantic's own message repeats it)."""
    problems = []
    for problem in error.errors(include_url=False, include_input=False, include_context=False):
        variable = "_".join(str(part) for part in problem["loc"]).upper() or "settings"
        problems.append(f"{variable}: {problem['msg']}")
    return "; ".join(problems)
