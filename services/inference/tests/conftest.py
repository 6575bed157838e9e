"""Fixtures: the real adapter published by the fine-tune code, loaded once, served live.

``published_adapter`` (from ``myretail_testkit.plugin``, registered by the repository's
conftest.py) is a LoRA
adapter trained on the tiny base by the real fine-tune Job and published to a ``file://``
model store. The model is loaded once per session through the service's own loader;
every engine and live server in this suite shares it (an engine is cheap: one thread).
``openai_schema`` validates answers against OpenAI's published response schemas
(``data/openai-response-schemas.json``, see ``data/README.md``).

The gateway (``ENGINE=remote``) is tested in front of ``upstream``: a vLLM-like router
(``myretail_testkit.openai_upstream``) that sends the adapters ``<name>-v1`` and
``<name>-v2`` to the live native server; ``tagged_store`` publishes the adapter as v2 too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from myretail_inference.engine import BatchingEngine
from myretail_inference.loader import LoadedModel, load_model
from myretail_inference.settings import InferenceSettings
from myretail_inference.upstream import upstream_model
from myretail_testkit.gateway import remote_settings, serve_gateway, store_with_tags
from myretail_testkit.inference import make_settings, serve_engine, start_engine
from myretail_testkit.openai_upstream import OpenAIUpstream
from myretail_testkit.servers import LiveServer


@pytest.fixture(scope="session")
def questions() -> list[str]:
    """Questions from the training data (the adapter learned their answers)."""
    return [
        "What are the MyElite tiers?",
        "Does it cost anything to join MyElite?",
        "How do I reach Gold status?",
        "When do my points expire?",
    ]


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session")
def settings(published_adapter: Any, model_cache: Path) -> InferenceSettings:
    return make_settings(published_adapter, model_cache)


@pytest.fixture(scope="session")
def loaded(settings: InferenceSettings) -> LoadedModel:
    return load_model(settings)


@pytest.fixture(scope="session")
def engine(loaded: LoadedModel) -> Iterator[BatchingEngine]:
    engine = start_engine(loaded, max_batch_size=16, max_queue_size=64)
    yield engine
    engine.stop()


@pytest.fixture(scope="session")
def server(settings: InferenceSettings, engine: BatchingEngine) -> Iterator[LiveServer]:
    """One live server on loopback for the whole session (batch 16, queue 64)."""
    with serve_engine(settings, engine) as live:
        yield live


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def client(server: LiveServer) -> openai.OpenAI:
    """The official OpenAI client, pointed at the live server."""
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key="unused", max_retries=0)


# -- the gateway (ENGINE=remote) ----------------------------------------------------------

SERVED_TAGS = ("v1", "v2")


@pytest.fixture(scope="session")
def tagged_store(published_adapter: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store where v2 holds the same adapter as v1 (a canary that answers alike)."""
    return store_with_tags(published_adapter, tmp_path_factory.mktemp("tagged"), ["v2"])


@pytest.fixture(scope="session")
def upstream(settings: InferenceSettings, server: LiveServer) -> Iterator[OpenAIUpstream]:
    """vLLM's part, played by the live native server behind a router."""
    names = {upstream_model(settings.model_name, tag): server.url for tag in SERVED_TAGS}
    with OpenAIUpstream(names) as router:
        yield router


@pytest.fixture(scope="session")
def gateway(
    settings: InferenceSettings, upstream: OpenAIUpstream, tagged_store: str
) -> Iterator[LiveServer]:
    """The gateway in front of ``upstream``, serving v1 (no canary)."""
    with serve_gateway(remote_settings(settings, upstream, tagged_store)) as live:
        yield live


# -- OpenAI's published response schemas --------------------------------------------------

OPENAI_SCHEMAS = Path(__file__).parent / "data" / "openai-response-schemas.json"


def _nullable_as_null(node: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` (ignored by JSON Schema) as "or null"."""
    if isinstance(node, list):
        return [_nullable_as_null(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_as_null(value) for key, value in node.items()}
    if node.get("nullable") is True:
        del node["nullable"]
        return {"anyOf": [node, {"type": "null"}]}
    return node


class OpenAISchema:
    """``validate("CreateChatCompletionResponse", body)`` raises when ``body`` does not fit."""

    uri = "urn:openai:response-schemas"
    completion_chunk = "CreateCompletionResponse (stream chunk)"

    def __init__(self, document: dict[str, Any]) -> None:
        document = _nullable_as_null(document)
        schemas = document["components"]["schemas"]
        # Completion stream chunks: finish_reason is null on every chunk but the last, as
        # OpenAI's live API sends it (the document types it as a string only).
        chunk = copy.deepcopy(schemas["CreateCompletionResponse"])
        reason = chunk["properties"]["choices"]["items"]["properties"]["finish_reason"]
        chunk["properties"]["choices"]["items"]["properties"]["finish_reason"] = {
            "anyOf": [reason, {"type": "null"}]
        }
        schemas[self.completion_chunk] = chunk
        resource = Resource.from_contents(document, default_specification=DRAFT202012)
        self.registry: Registry[Any] = Registry().with_resource(self.uri, resource)
        self.names = set(schemas)

    def validate(self, name: str, instance: Any) -> None:
        assert name in self.names, name
        ref = {"$ref": f"{self.uri}#/components/schemas/{name}"}
        Draft202012Validator(ref, registry=self.registry).validate(instance)


@pytest.fixture(scope="session")
def openai_schema() -> OpenAISchema:
    return OpenAISchema(json.loads(OPENAI_SCHEMAS.read_text(encoding="utf-8")))
