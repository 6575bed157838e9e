"""Settings from the environment (names from docs/contracts.md) and the provider choices."""

from __future__ import annotations

import pytest

from myretail_rag.catalog.embeddings import (
    EmbeddingIdentity,
    EmbeddingsUnavailableError,
    embedding_identity,
    load_embeddings,
)
from myretail_rag.settings import RagSettings


def test_environment_names_and_defaults(monkeypatch):
    for name in ("QDRANT_ENDPOINT", "OPENAI_API_KEY", "OPENAI_BASE_URL", "CHAT_PROVIDER"):
        monkeypatch.delenv(name, raising=False)
    settings = RagSettings()
    assert settings.port == 8080
    assert settings.qdrant_collection == "catalog"
    assert settings.resolved_chat_provider() == "none"
    assert settings.qdrant_location() == "embedded Qdrant at ./var/qdrant"
    monkeypatch.setenv("QDRANT_ENDPOINT", "http://qdrant:6333")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://myretail-inference:8000/v1")
    monkeypatch.setenv("LOAD_ALLOWED_SCHEMES", "https, s3,file")
    monkeypatch.setenv("HISTORY_URL", "redis://redis:6379/0")
    monkeypatch.setenv("ADMIN_TOKEN", "admin-secret-" + "x" * 20)
    settings = RagSettings()
    assert settings.qdrant_location() == "Qdrant at http://qdrant:6333"
    assert settings.resolved_chat_provider() == "openai"
    assert settings.load_allowed_schemes == ["https", "s3", "file"]
    assert "admin-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HISTORY_URL", "postgres://db/history"),
        ("LOAD_ALLOWED_SCHEMES", "http,gopher"),
        ("CHAT_PROVIDER", "gpt"),
        ("QDRANT_COLLECTION", "../etc"),
        ("QUERY_EMBEDDING_WORKERS", "0"),
    ],
)
def test_invalid_settings_are_refused(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError):
        RagSettings()


def test_embedding_identity_needs_no_model():
    assert embedding_identity(RagSettings(embeddings_provider="local")) == EmbeddingIdentity(
        "sentence-transformers/all-MiniLM-L6-v2", 384
    )
    openai = RagSettings(embeddings_provider="openai", openai_api_key="sk-test")
    assert embedding_identity(openai) == EmbeddingIdentity("openai/text-embedding-3-small", 1536)
    with pytest.raises(ValueError, match="EMBEDDINGS_DIMENSION"):
        embedding_identity(openai.model_copy(update={"embeddings_model": "custom-embedder"}))


def test_openai_embeddings_by_setting_and_a_clear_error_when_down():
    from langchain_openai import OpenAIEmbeddings

    from myretail_common.ports import free_port

    settings = RagSettings(
        embeddings_provider="openai",
        openai_api_key="sk-test-not-real",
        openai_base_url=f"http://127.0.0.1:{free_port()}/v1",
        chat_timeout_seconds=2,
    )
    model = load_embeddings(settings)
    assert isinstance(model.embeddings, OpenAIEmbeddings)
    assert model.identity.model == "openai/text-embedding-3-small"
    with pytest.raises(EmbeddingsUnavailableError, match="text-embedding-3-small failed"):
        model.embed_query("walking shoes")
