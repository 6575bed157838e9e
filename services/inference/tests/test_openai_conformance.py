"""Answers and errors under ``/v1`` validate against OpenAI's published response schemas.

Real HTTP against the live server with the fine-tuned adapter: chat completions, their
stream chunks (``role`` only in the first delta, never null; the usage chunk of
``stream_options.include_usage``), completions and their stream, the model list, and
every kind of ``/v1`` error, including one that arrives inside a stream. ``/generate``
keeps the project's error model.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from myretail_inference.loader import LoadedModel
from myretail_inference.settings import InferenceSettings
from myretail_testkit.inference import serve_engine, start_engine

pytestmark = pytest.mark.slow

QUESTION = "What are the MyElite tiers?"
USER = [{"role": "user", "content": QUESTION}]
CHAT = {"messages": USER, "max_tokens": 12, "temperature": 0}
COMPLETION = {"prompt": "MyElite members", "max_tokens": 8, "temperature": 0}
OPENAI_ERROR_KEYS = {"message", "type", "param", "code"}
UNSUPPORTED = "unsupported_parameter"


def _post(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(path, json=body)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _stream(http: httpx.Client, path: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``data:`` events of a stream, parsed; checks it ends with ``[DONE]``."""
    with http.stream("POST", path, json={**body, "stream": True}) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        data = [line[len("data: ") :] for line in response.iter_lines() if line.startswith("data:")]
    assert data[-1] == "[DONE]"
    return [json.loads(event) for event in data[:-1]]


def test_chat_completion_matches_openai_schema(http: httpx.Client, openai_schema: Any) -> None:
    completion = _post(http, "/v1/chat/completions", CHAT)
    openai_schema.validate("CreateChatCompletionResponse", completion)
    message = completion["choices"][0]["message"]
    assert message["role"] == "assistant" and message["content"]
    assert "refusal" in message and message["refusal"] is None
    assert completion["choices"][0]["logprobs"] is None
    usage = completion["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]


@pytest.mark.parametrize("include_usage", [False, True])
def test_chat_stream_chunks_match_openai_schema(
    http: httpx.Client, openai_schema: Any, include_usage: bool
) -> None:
    body = {**CHAT, "stream_options": {"include_usage": include_usage}}
    chunks = _stream(http, "/v1/chat/completions", body)
    for chunk in chunks:
        openai_schema.validate("CreateChatCompletionStreamResponse", chunk)
    assert len({chunk["id"] for chunk in chunks}) == 1
    with_choices = [chunk for chunk in chunks if chunk["choices"]]
    deltas = [chunk["choices"][0]["delta"] for chunk in with_choices]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all("role" not in delta for delta in deltas[1:])
    assert all(value is not None for delta in deltas for value in delta.values())
    reasons = [chunk["choices"][0]["finish_reason"] for chunk in with_choices]
    assert reasons[:-1] == [None] * (len(reasons) - 1) and reasons[-1] in ("stop", "length")
    assert deltas[-1] == {}
    text = "".join(delta.get("content", "") for delta in deltas)
    assert text == _post(http, "/v1/chat/completions", CHAT)["choices"][0]["message"]["content"]
    if include_usage:  # one more chunk: no choices, the usage of the whole request
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
        assert all("usage" not in chunk for chunk in chunks[:-1])
    else:
        assert chunks[-1] is with_choices[-1]
        assert all("usage" not in chunk for chunk in chunks)


def test_completion_matches_openai_schema(http: httpx.Client, openai_schema: Any) -> None:
    completion = _post(http, "/v1/completions", COMPLETION)
    openai_schema.validate("CreateCompletionResponse", completion)
    assert completion["choices"][0]["text"] and completion["usage"]["completion_tokens"] <= 8


@pytest.mark.parametrize("include_usage", [False, True])
def test_completion_stream_chunks_match_openai_schema(
    http: httpx.Client, openai_schema: Any, include_usage: bool
) -> None:
    body = {**COMPLETION, "echo": True, "stream_options": {"include_usage": include_usage}}
    chunks = _stream(http, "/v1/completions", body)
    for chunk in chunks:
        openai_schema.validate(openai_schema.completion_chunk, chunk)
    with_choices = [chunk for chunk in chunks if chunk["choices"]]
    assert with_choices[0]["choices"][0]["text"] == COMPLETION["prompt"]  # the echo
    reasons = [chunk["choices"][0]["finish_reason"] for chunk in with_choices]
    assert reasons[:-1] == [None] * (len(reasons) - 1) and reasons[-1] in ("stop", "length")
    if include_usage:
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] > 0
        # The usage chunk is a valid non-streamed completion object too.
        openai_schema.validate("CreateCompletionResponse", chunks[-1])
    else:
        assert all("usage" not in chunk for chunk in chunks)


def test_models_list_matches_openai_schema(
    http: httpx.Client, openai_schema: Any, settings: InferenceSettings
) -> None:
    response = http.get("/v1/models")
    assert response.status_code == 200
    openai_schema.validate("ListModelsResponse", response.json())
    assert [model["id"] for model in response.json()["data"]] == [settings.model_name]


LONG_QUESTION = "points " * 700  # longer than the tiny model's 512-token context

# (method, path, JSON body or raw bytes, status, code, param): one of each kind of error.
V1_ERRORS: list[tuple[str, str, Any, int, str | None, str | None]] = [
    ("POST", "/v1/chat/completions", {}, 422, "invalid_request", "messages"),
    ("POST", "/v1/chat/completions", {**CHAT, "temperature": "hot"}, 422, None, "temperature"),
    ("POST", "/v1/completions", b'{"prompt": ', 400, "invalid_json", None),
    ("POST", "/v1/chat/completions", {**CHAT, "model": "gpt-4o"}, 404, "model_not_found", "model"),
    ("POST", "/v1/completions", {**COMPLETION, "model": "x"}, 404, "model_not_found", "model"),
    ("POST", "/v1/chat/completions", {**CHAT, "n": 2}, 400, UNSUPPORTED, "n"),
    (
        "POST",
        "/v1/completions",
        {**COMPLETION, "suffix": "!"},
        400,
        "unsupported_parameter",
        "suffix",
    ),
    ("POST", "/v1/chat/completions", {**CHAT, "max_tokens": 5000}, 400, None, "max_tokens"),
    (
        "POST",
        "/v1/chat/completions",
        {"messages": [{"role": "user", "content": LONG_QUESTION}]},
        400,
        "context_length_exceeded",
        "messages",
    ),
    (
        "POST",
        "/v1/completions",
        {**COMPLETION, "prompt": LONG_QUESTION, "stream": True},
        400,
        "context_length_exceeded",
        "prompt",
    ),
    ("POST", "/v1/chat/completions", {**CHAT, "stop": [""]}, 422, None, "stop.list.0"),
    ("GET", "/v1/chat/completions", None, 405, "method_not_allowed", None),
    ("POST", "/v1/embeddings", {"input": "hi"}, 404, "not_found", None),
    ("GET", "/v1", None, 404, None, None),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "code", "param"), V1_ERRORS)
def test_every_v1_error_has_openai_shape(
    http: httpx.Client,
    openai_schema: Any,
    method: str,
    path: str,
    body: Any,
    status: int,
    code: str | None,
    param: str | None,
) -> None:
    if isinstance(body, bytes):
        response = http.request(
            method, path, content=body, headers={"content-type": "application/json"}
        )
    else:
        response = http.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    answer = response.json()
    openai_schema.validate("ErrorResponse", answer)
    error = answer["error"]
    assert set(error) == OPENAI_ERROR_KEYS
    assert error["type"] == "invalid_request_error"
    assert error["message"] and "Traceback" not in error["message"]
    if code is not None:
        assert error["code"] == code
    if param is not None:
        assert error["param"] == param
    assert "x-request-id" in response.headers


def test_generate_keeps_the_project_error_model(http: httpx.Client) -> None:
    for body, status in (({}, 422), ({"prompt": "hi", "max_new_tokens": 10_000}, 400)):
        response = http.post("/generate", json=body)
        assert response.status_code == status
        error = response.json()["error"]
        assert {"type", "message", "request_id"} <= set(error)
        assert "param" not in error and "code" not in error
    unknown = http.get("/no-such-route").json()["error"]
    assert unknown["type"] == "not_found" and "param" not in unknown


def test_an_error_inside_a_stream_has_openai_shape(
    settings: InferenceSettings, loaded: LoadedModel, openai_schema: Any
) -> None:
    """The deadline passes mid-stream: the last event is an OpenAI error, then [DONE]."""
    engine = start_engine(loaded, max_batch_size=2, request_timeout_seconds=0.3)
    slow = {**CHAT, "max_tokens": 400, "ignore_eos": True}
    limits = settings.model_copy(update={"max_new_tokens_limit": 1024})
    try:
        with (
            serve_engine(limits, engine) as live,
            httpx.Client(base_url=live.url, timeout=60) as http,
        ):
            events = _stream(http, "/v1/chat/completions", slow)
    finally:
        engine.stop()
    *chunks, last = events
    for chunk in chunks:
        openai_schema.validate("CreateChatCompletionStreamResponse", chunk)
    openai_schema.validate("ErrorResponse", last)
    assert last["error"]["type"] == "server_error" and last["error"]["code"] == "timeout"
    assert "REQUEST_TIMEOUT_SECONDS" in last["error"]["message"]
