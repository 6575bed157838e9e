"""The chat model: none (retrieval-only), any OpenAI-compatible endpoint, or Amazon Bedrock.

``openai`` covers OpenAI itself and every server that speaks its API: our inference
service (``OPENAI_BASE_URL=http://<release>-inference:8000/v1``), vLLM, Ollama.
``bedrock`` is LangChain's ``ChatBedrock`` with an Anthropic Claude model; credentials
come from the standard AWS chain (the pod's IAM role through IRSA), never from settings.
Nothing is contacted here: a model that is down shows on its first call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from langchain_core.language_models import BaseChatModel

from myretail_rag.settings import RagSettings


@dataclass(frozen=True)
class ChatModelInfo:
    """Which chat model answers, for messages and logs (no secrets)."""

    provider: str
    model: str
    endpoint: str

    def describe(self) -> str:
        return f"{self.provider} model {self.model} at {self.endpoint}"


def chat_model_info(settings: RagSettings) -> ChatModelInfo | None:
    provider = settings.resolved_chat_provider()
    if provider == "openai":
        return ChatModelInfo(
            "OpenAI-compatible", settings.chat_model, settings.openai_base_url or "api.openai.com"
        )
    if provider == "bedrock":
        region = settings.aws_region or "us-east-1"
        endpoint = settings.bedrock_endpoint_url or f"bedrock-runtime.{region}"
        return ChatModelInfo("Bedrock", settings.bedrock_model_id, endpoint)
    return None


def create_chat_model(settings: RagSettings) -> BaseChatModel | None:
    """The configured chat model, or None for retrieval-only answers."""
    provider = settings.resolved_chat_provider()
    if provider == "openai":
        from langchain_openai import ChatOpenAI

        # Our inference service and local servers need no key; the client insists on one.
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
        return ChatOpenAI(
            model=settings.chat_model,
            api_key=key,  # type: ignore[arg-type]
            base_url=settings.openai_base_url,
            temperature=settings.chat_temperature,
            max_completion_tokens=settings.chat_max_tokens,
            timeout=settings.chat_timeout_seconds,
            max_retries=1,
        )
    if provider == "bedrock":
        from botocore.config import Config
        from langchain_aws import ChatBedrock

        kwargs: dict[str, Any] = {
            "model_id": settings.bedrock_model_id,
            "region_name": settings.aws_region or "us-east-1",
            "temperature": settings.chat_temperature,
            "max_tokens": settings.chat_max_tokens,
            "config": Config(
                connect_timeout=min(10.0, settings.chat_timeout_seconds),
                read_timeout=settings.chat_timeout_seconds,
                retries={"max_attempts": 2, "mode": "standard"},
            ),
        }
        if settings.bedrock_endpoint_url:
            kwargs["endpoint_url"] = settings.bedrock_endpoint_url
        return ChatBedrock(**kwargs)
    return None
