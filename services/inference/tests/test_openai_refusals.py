"""OpenAI features the server does not implement are refused with a 400, not ignored.

Each refused feature gets a 400 in OpenAI's shape whose ``param`` names it and whose
message says it is not supported; the values that ask for nothing (``n: 1``,
``logprobs: false``, ``response_format: {"type": "text"}``, ``tool_choice: "none"``...)
are accepted. Over real HTTP and through the official ``openai`` client.
"""

from __future__ import annotations

from typing import Any

import httpx
import openai
import pytest

from myretail_inference.settings import InferenceSettings

pytestmark = pytest.mark.slow

CHAT_PATH, COMPLETIONS_PATH = "/v1/chat/completions", "/v1/completions"
USER = [{"role": "user", "content": "What are the MyElite tiers?"}]
CHAT = {"messages": USER, "max_tokens": 2}
COMPLETION = {"prompt": "MyElite members", "max_tokens": 2}
TOOL = {"type": "function", "function": {"name": "points", "parameters": {"type": "object"}}}
IMAGE = {"type": "image_url", "image_url": {"url": "https://example.com/card.png"}}

# (path, fields added to a valid request, the param the 400 must name)
REFUSED: list[tuple[str, dict[str, Any], str]] = [
    (CHAT_PATH, {"tools": [TOOL]}, "tools"),
    (CHAT_PATH, {"tool_choice": "auto"}, "tool_choice"),
    (CHAT_PATH, {"tool_choice": {"type": "function", "function": {"name": "x"}}}, "tool_choice"),
    (CHAT_PATH, {"functions": [TOOL["function"]]}, "functions"),
    (CHAT_PATH, {"function_call": "auto"}, "function_call"),
    (CHAT_PATH, {"response_format": {"type": "json_object"}}, "response_format"),
    (
        CHAT_PATH,
        {"response_format": {"type": "json_schema", "json_schema": {"name": "t", "schema": {}}}},
        "response_format",
    ),
    (CHAT_PATH, {"n": 2}, "n"),
    (CHAT_PATH, {"logprobs": True}, "logprobs"),
    (CHAT_PATH, {"top_logprobs": 3}, "top_logprobs"),
    (CHAT_PATH, {"logit_bias": {"50256": -100}}, "logit_bias"),
    (CHAT_PATH, {"presence_penalty": 0.5}, "presence_penalty"),
    (CHAT_PATH, {"frequency_penalty": -1}, "frequency_penalty"),
    (CHAT_PATH, {"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
    (CHAT_PATH, {"modalities": ["text", "audio"]}, "modalities"),
    (
        CHAT_PATH,
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, IMAGE]}]},
        "messages.0.content",
    ),
    (COMPLETIONS_PATH, {"n": 3}, "n"),
    (COMPLETIONS_PATH, {"best_of": 2}, "best_of"),
    (COMPLETIONS_PATH, {"logprobs": 0}, "logprobs"),
    (COMPLETIONS_PATH, {"suffix": " points."}, "suffix"),
    (COMPLETIONS_PATH, {"logit_bias": {"1": 5}}, "logit_bias"),
    (COMPLETIONS_PATH, {"frequency_penalty": 1.5}, "frequency_penalty"),
    (COMPLETIONS_PATH, {"prompt": ["MyElite", "Gold"]}, "prompt"),
]


def _valid(path: str) -> dict[str, Any]:
    return dict(CHAT if path == CHAT_PATH else COMPLETION)


@pytest.mark.parametrize(("path", "extra", "param"), REFUSED)
def test_unsupported_feature_is_a_400_naming_it(
    http: httpx.Client, openai_schema: Any, path: str, extra: dict[str, Any], param: str
) -> None:
    for stream in (False, True):
        response = http.post(path, json={**_valid(path), **extra, "stream": stream})
        assert response.status_code == 400, response.text
        openai_schema.validate("ErrorResponse", response.json())
        error = response.json()["error"]
        assert error["code"] == "unsupported_parameter"
        assert error["param"] == param
        assert param.split(".")[-1] in error["message"]
        assert "not supported" in error["message"]


def test_values_that_ask_for_nothing_are_accepted(http: httpx.Client) -> None:
    neutral = {
        "n": 1,
        "logit_bias": {},
        "presence_penalty": 0,
        "frequency_penalty": 0.0,
        "stream_options": {"include_usage": False},
    }
    chat = {
        **CHAT,
        **neutral,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Tiers?"}]}],
        "logprobs": False,
        "top_logprobs": 0,
        "tools": [],
        "tool_choice": "none",
        "function_call": "none",
        "response_format": {"type": "text"},
        "modalities": ["text"],
        "parallel_tool_calls": False,  # a modifier of tools: nothing to do without them
    }
    assert http.post(CHAT_PATH, json=chat).status_code == 200
    completion = {**COMPLETION, **neutral, "best_of": 1, "prompt": ["MyElite"], "suffix": ""}
    assert http.post(COMPLETIONS_PATH, json=completion).status_code == 200


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"tools": [TOOL]}, "tools"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        ({"n": 2}, "n > 1"),
        ({"logprobs": True, "top_logprobs": 2}, "logprobs"),
    ],
)
def test_openai_client_raises_bad_request(
    client: openai.OpenAI, settings: InferenceSettings, extra: dict[str, Any], says: str
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model=settings.model_name,
            messages=USER,  # type: ignore[arg-type]
            max_tokens=2,
            **extra,
        )
    assert refused.value.status_code == 400
    assert refused.value.code == "unsupported_parameter"
    assert says in refused.value.message
