from myretail_common.settings import DEFAULT_STORE_URI, CommonSettings, ServiceSettings


def test_store_uri_prefers_model_store_uri(monkeypatch):
    monkeypatch.setenv("MODEL_STORE_URI", "s3://explicit/root")
    monkeypatch.setenv("MODEL_ASSETS_BUCKET", "book-bucket")
    assert CommonSettings().store_uri() == "s3://explicit/root"


def test_book_bucket_variable_still_works(monkeypatch):
    monkeypatch.delenv("MODEL_STORE_URI", raising=False)
    monkeypatch.setenv("MODEL_ASSETS_BUCKET", "book-bucket")
    assert CommonSettings().store_uri() == "s3://book-bucket/models"


def test_local_default_and_storage_options(monkeypatch):
    for name in ("MODEL_STORE_URI", "MODEL_ASSETS_BUCKET", "S3_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    settings = CommonSettings()
    assert settings.store_uri() == DEFAULT_STORE_URI
    assert settings.storage_options() == {"key": "k", "secret": "s"}
    assert "s'" not in repr(settings)  # secrets are masked in reprs


def test_service_settings_read_the_port(monkeypatch):
    monkeypatch.setenv("PORT", "8123")
    assert ServiceSettings().port == 8123


def test_invalid_settings_are_described_by_variable_without_their_values(monkeypatch):
    import pytest
    from pydantic import ValidationError

    from myretail_common.settings import describe_invalid_settings

    monkeypatch.setenv("MAX_REQUEST_BYTES", "a-secret-looking-value")
    monkeypatch.setenv("METRICS_PORT", "70000")
    with pytest.raises(ValidationError) as caught:
        ServiceSettings()
    described = describe_invalid_settings(caught.value)
    assert described.startswith("MAX_REQUEST_BYTES: Input should be a valid integer")
    assert "METRICS_PORT: Input should be less than or equal to 65535" in described
    assert "a-secret-looking-value" not in described and "70000" not in described
