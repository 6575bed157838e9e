"""Limits before work and hostile input, over real HTTP against the live server.

Every string and list field is bounded; at most 4 stop sequences of bounded length;
``max_tokens`` that cannot fit the context window beside the prompt is a 400 (an
exactly fitting one is served, and a default is shortened to fit); model ids match as a
whole string; a lone surrogate in any text field is a 4xx; error bodies stay short
whatever was sent; a body over the cap is a 413 before it is parsed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from myretail_common.prompt import build_prompt
from myretail_inference import schemas
from myretail_inference.engine import BatchingEngine
from myretail_inference.settings import InferenceSettings

pytestmark = pytest.mark.slow

GENERATE, CHAT_PATH, COMPLETIONS_PATH = "/generate", "/v1/chat/completions", "/v1/completions"
USER = [{"role": "user", "content": "What are the MyElite tiers?"}]
CHAT = {"messages": USER, "max_tokens": 2}
COMPLETION = {"prompt": "MyElite members", "max_tokens": 2}
SHORT_ERROR_BYTES = 2048  # an error body never grows with what the client sent


def _valid(path: str) -> dict[str, Any]:
    return {
        GENERATE: {"prompt": "What are the MyElite tiers?", "max_new_tokens": 2},
        CHAT_PATH: CHAT,
        COMPLETIONS_PATH: COMPLETION,
    }[path]


def _field_at_fault(response: httpx.Response) -> str:
    """The field an error names: OpenAI's ``param`` under /v1, else the first detail."""
    error = response.json()["error"]
    if "param" in error:
        return str(error["param"] or "")
    details = error.get("details") or [{}]
    return str(details[0].get("field", "")).removeprefix("body.")


def _assert_short_json_error(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, response.text[:500]
    assert len(response.content) < SHORT_ERROR_BYTES, response.text[:500]
    assert response.json()["error"]["message"]
    assert "Traceback" not in response.text


# -- every string and list field is bounded ---------------------------------------------------

TOO_LONG_TEXT = "a" * (schemas.MAX_TEXT_CHARS + 1)
TOO_LONG_ID = "m" * (schemas.MAX_ID_CHARS + 1)
TEXT_PART = {"type": "text", "text": "Tiers?"}

# (path, fields that replace those of a valid request, the field the 422 must name)
OVERSIZED: list[tuple[str, dict[str, Any], str]] = [
    (GENERATE, {"prompt": TOO_LONG_TEXT}, "prompt"),
    (CHAT_PATH, {"messages": [{"role": "user", "content": TOO_LONG_TEXT}]}, "messages.0.content"),
    (
        CHAT_PATH,
        {"messages": [{"role": "user", "content": [{"type": "text", "text": TOO_LONG_TEXT}]}]},
        "messages.0.content.list.0.text",
    ),
    (
        CHAT_PATH,
        {"messages": [{"role": "user", "content": [TEXT_PART] * (schemas.MAX_CONTENT_PARTS + 1)}]},
        "messages.0.content.list",
    ),
    (
        CHAT_PATH,
        {"messages": [{"role": "user", "content": [{"type": TOO_LONG_ID, "text": "x"}]}]},
        "messages.0.content.list.0.type",
    ),
    (CHAT_PATH, {"messages": USER * (schemas.MAX_MESSAGES + 1)}, "messages"),
    (
        CHAT_PATH,
        {"messages": [{**USER[0], "name": "n" * (schemas.MAX_NAME_CHARS + 1)}]},
        "messages.0.name",
    ),
    (CHAT_PATH, {"model": TOO_LONG_ID}, "model"),
    (CHAT_PATH, {"user": TOO_LONG_ID}, "user"),
    (CHAT_PATH, {"response_format": {"type": TOO_LONG_ID}}, "response_format.type"),
    (CHAT_PATH, {"tool_choice": TOO_LONG_ID}, "tool_choice"),
    (CHAT_PATH, {"tools": [{"type": "function"}] * (schemas.MAX_TOOLS + 1)}, "tools"),
    (CHAT_PATH, {"modalities": ["text"] * 5}, "modalities"),
    (
        CHAT_PATH,
        {"logit_bias": {str(i): 1 for i in range(schemas.MAX_OBJECT_KEYS + 1)}},
        "logit_bias",
    ),
    (CHAT_PATH, {"max_tokens": schemas.MAX_TOKEN_COUNT + 1}, "max_tokens"),
    (COMPLETIONS_PATH, {"prompt": TOO_LONG_TEXT}, "prompt"),
    (COMPLETIONS_PATH, {"prompt": ["MyElite"] * (schemas.MAX_PROMPTS + 1)}, "prompt.list"),
    (COMPLETIONS_PATH, {"suffix": TOO_LONG_TEXT}, "suffix"),
    (COMPLETIONS_PATH, {"model": TOO_LONG_ID}, "model"),
    (COMPLETIONS_PATH, {"user": TOO_LONG_ID}, "user"),
]


@pytest.mark.parametrize(("path", "fields", "field"), OVERSIZED)
def test_every_string_and_list_is_bounded(
    http: httpx.Client, path: str, fields: dict[str, Any], field: str
) -> None:
    response = http.post(path, json={**_valid(path), **fields})
    assert response.status_code == 422, response.text[:500]
    _assert_short_json_error(response)
    assert _field_at_fault(response).startswith(field)


# -- stop sequences: OpenAI's limit ---------------------------------------------------------------


@pytest.mark.parametrize("path", [CHAT_PATH, COMPLETIONS_PATH])
def test_stop_sequences_are_bounded(http: httpx.Client, path: str) -> None:
    longest = "z" * schemas.MAX_STOP_CHARS
    most = [f"{i}{longest[1:]}" for i in range(schemas.MAX_STOP_SEQUENCES)]
    assert http.post(path, json={**_valid(path), "stop": most}).status_code == 200
    assert http.post(path, json={**_valid(path), "stop": longest}).status_code == 200
    refused = {
        "stop.list": [*most, "one more"],
        "stop.string": longest + "z",
        "stop.list.0": [longest + "z"],
    }
    for field, stop in refused.items():
        response = http.post(path, json={**_valid(path), "stop": stop})
        assert response.status_code == 422, response.text
        assert _field_at_fault(response) == field


# -- max_tokens must fit the context window beside the prompt ------------------------------------


def _prompt_leaving(
    engine: BatchingEngine, room: int, render: Callable[[str], str]
) -> tuple[str, int]:
    """The longest ``"points "`` text whose rendered prompt leaves at least ``room`` tokens
    of the context window; returns it and the exact room it leaves."""
    context = engine.info.context_window

    def left(words: int) -> int:
        return context - len(engine.encode(render("points " * words)))

    low, high = 0, context
    while low < high:  # the most words that still leave the room
        middle = (low + high + 1) // 2
        low, high = (middle, high) if left(middle) >= room else (low, middle - 1)
    assert left(low) >= room
    return "points " * low, left(low)


# (path, field of the new-token limit, how the route renders the prompt text)
BUDGETS: list[tuple[str, str, Callable[[str], str]]] = [
    (COMPLETIONS_PATH, "max_tokens", lambda text: text),
    (CHAT_PATH, "max_tokens", build_prompt),
    (CHAT_PATH, "max_completion_tokens", build_prompt),
    (GENERATE, "max_new_tokens", build_prompt),
]


def _body(path: str, text: str, **fields: Any) -> dict[str, Any]:
    if path == CHAT_PATH:
        return {"messages": [{"role": "user", "content": text}], **fields}
    return {"prompt": text, **fields}


@pytest.mark.parametrize(("path", "field", "render"), BUDGETS)
def test_max_tokens_that_cannot_fit_the_context_is_a_400(
    http: httpx.Client,
    engine: BatchingEngine,
    settings: InferenceSettings,
    path: str,
    field: str,
    render: Callable[[str], str],
) -> None:
    text, room = _prompt_leaving(engine, 40, render)
    assert room < settings.max_new_tokens_limit  # so the context is the limit that applies
    too_many = http.post(path, json=_body(path, text, **{field: room + 1}))
    assert too_many.status_code == 400, too_many.text
    _assert_short_json_error(too_many)
    assert _field_at_fault(too_many) == field
    message = too_many.json()["error"]["message"]
    assert str(engine.info.context_window) in message and f"at most {room}" in message
    if path != GENERATE:
        assert too_many.json()["error"]["code"] == "context_length_exceeded"

    fits = http.post(path, json=_body(path, text, **{field: room, "ignore_eos": True}))
    assert fits.status_code == 200, fits.text
    usage = fits.json()["usage"]
    assert usage["prompt_tokens"] + room == engine.info.context_window
    assert usage["completion_tokens"] <= room


def test_default_max_tokens_is_shortened_to_fit(http: httpx.Client, engine: BatchingEngine) -> None:
    """No max_tokens: the route's default (16 for completions) is cut to the room left."""
    text, room = _prompt_leaving(engine, 3, lambda prompt: prompt)
    assert room < 16
    response = http.post(COMPLETIONS_PATH, json={"prompt": text, "ignore_eos": True})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["usage"]["completion_tokens"] == room
    assert answer["choices"][0]["finish_reason"] == "length"


# -- identifiers match as a whole string ----------------------------------------------------------


def test_model_ids_match_the_whole_string(http: httpx.Client, settings: InferenceSettings) -> None:
    name, tag = settings.model_name, settings.model_tag
    for served in (name, f"{name}:{tag}"):
        assert http.post(CHAT_PATH, json={**CHAT, "model": served}).status_code == 200
        for near in (f"{served}\n", f"{served}\r\n", f" {served}", f"{served} ", served[:-1]):
            for path in (CHAT_PATH, COMPLETIONS_PATH):
                response = http.post(path, json={**_valid(path), "model": near})
                assert response.status_code == 404, (near, response.text)
                assert response.json()["error"]["code"] == "model_not_found"
    assert http.post(CHAT_PATH, json={**CHAT, "model": name.upper()}).status_code == 404


def test_error_messages_quote_a_short_prefix_of_client_text(http: httpx.Client) -> None:
    model = "gpt-" + "x" * (schemas.MAX_ID_CHARS - 4)
    response = http.post(CHAT_PATH, json={**CHAT, "model": model})
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert model[:30] in message and model not in message
    assert len(message) < 200


# -- text that cannot be encoded ------------------------------------------------------------

MARK = "<lone surrogate>"

# (path, a valid request with MARK where a lone surrogate goes)
SURROGATE_PLACES: list[tuple[str, dict[str, Any]]] = [
    (GENERATE, {"prompt": f"Tiers? {MARK}"}),
    (CHAT_PATH, {"messages": [{"role": "user", "content": f"Tiers? {MARK}"}]}),
    (CHAT_PATH, {"messages": [{"role": "user", "content": [{"type": "text", "text": MARK}]}]}),
    (CHAT_PATH, {"messages": [{"role": "user", "content": [{"type": MARK, "text": "Hi"}]}]}),
    (CHAT_PATH, {"messages": [{**USER[0], "name": MARK}]}),
    (CHAT_PATH, {"messages": [{"role": "system", "content": MARK}, *USER]}),
    (CHAT_PATH, {"messages": [{"role": MARK, "content": "Hi"}]}),
    (CHAT_PATH, {"model": MARK}),
    (CHAT_PATH, {"user": MARK}),
    (CHAT_PATH, {"stop": MARK}),
    (CHAT_PATH, {"stop": ["###", MARK]}),
    (CHAT_PATH, {"response_format": {"type": MARK}}),
    (CHAT_PATH, {"tool_choice": MARK}),
    (CHAT_PATH, {"modalities": [MARK]}),
    (COMPLETIONS_PATH, {"prompt": f"MyElite {MARK}"}),
    (COMPLETIONS_PATH, {"prompt": [MARK]}),
    (COMPLETIONS_PATH, {"suffix": MARK}),
    (COMPLETIONS_PATH, {"model": MARK}),
    (COMPLETIONS_PATH, {"user": MARK}),
    (COMPLETIONS_PATH, {"stop": [MARK]}),
]


def _with_lone_surrogate(body: dict[str, Any]) -> bytes:
    """``body`` as JSON text, MARK replaced by the escape of an unpaired surrogate."""
    return json.dumps(body).replace(MARK, "\\ud800").encode()


@pytest.mark.parametrize(("path", "fields"), SURROGATE_PLACES)
def test_lone_surrogate_in_any_text_field_is_a_4xx(
    http: httpx.Client, path: str, fields: dict[str, Any]
) -> None:
    body = _with_lone_surrogate({**_valid(path), **fields})
    for stream in (False, True) if path != GENERATE else (False,):
        raw = body if not stream else body[:-1] + b', "stream": true}'
        response = http.post(path, content=raw, headers={"content-type": "application/json"})
        _assert_short_json_error(response)


@pytest.mark.parametrize(("path", "fields"), SURROGATE_PLACES)
def test_request_models_refuse_lone_surrogates_themselves(
    path: str, fields: dict[str, Any]
) -> None:
    """Not only the shared request guard: the service's own models refuse them too."""
    model = {
        GENERATE: schemas.GenerateRequest,
        CHAT_PATH: schemas.ChatCompletionRequest,
        COMPLETIONS_PATH: schemas.CompletionRequest,
    }[path]
    body = json.loads(_with_lone_surrogate({**_valid(path), **fields}))
    with pytest.raises(ValidationError):
        model.model_validate(body)


def test_surrogate_pairs_are_ordinary_text(http: httpx.Client) -> None:
    """An escaped pair (an emoji) is valid Unicode and is answered."""
    body = json.dumps({**CHAT, "messages": [{"role": "user", "content": "Tiers? \ud83d\ude42"}]})
    assert "\\ud83d\\ude42" in body
    response = http.post(CHAT_PATH, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 200, response.text


# -- the request-body cap (myretail_common's request guard) ------------------------------------


@pytest.mark.parametrize("path", [GENERATE, CHAT_PATH, COMPLETIONS_PATH])
def test_a_body_over_the_cap_is_a_413_before_parsing(
    http: httpx.Client, openai_schema: Any, settings: InferenceSettings, path: str
) -> None:
    cap = settings.max_request_bytes
    not_json = b"[" * (cap + 1)  # would be a 400 invalid_json if it were parsed
    response = http.post(path, content=not_json, headers={"content-type": "application/json"})
    assert response.status_code == 413
    _assert_short_json_error(response)
    if path.startswith("/v1/"):
        openai_schema.validate("ErrorResponse", response.json())
    else:
        assert response.json()["error"]["type"] == "payload_too_large"
    assert http.get("/healthz").status_code == 200
